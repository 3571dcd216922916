#include "console/user_regex.hpp"

#include <fmt/format.h>

namespace minivmm::console {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The length of the run of digits at `pos`.
std::size_t digits_at(std::string_view text, std::size_t pos)
{
    std::size_t n = 0;
    while (pos + n < text.size() && is_digit(text[pos + n])) {
        ++n;
    }
    return n;
}

// Refuses a number of more than kMaxRegexNumberDigits digits where libstdc++ would read it as
// a backreference or a repetition count: after a backslash, after '{', and after ',' inside
// braces. An escaped character (\\, \{) is skipped, so "\\12345678" (a backslash, then
// digits) and "\{12345678" (a brace, then digits) are literal text and pass.
void check_numbers(std::string_view pattern)
{
    const auto refuse = [&](std::regex_constants::error_type code, std::string_view what, std::size_t pos,
                            std::size_t length) {
        throw UserRegexError(code, fmt::format("the {} {}... at offset {} has more than {} digits", what,
                                               pattern.substr(pos, std::min<std::size_t>(length, 12)), pos,
                                               kMaxRegexNumberDigits));
    };
    bool in_braces = false;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        const char c = pattern[i];
        if (c == '\\') {
            const std::size_t n = digits_at(pattern, i + 1);
            if (n > kMaxRegexNumberDigits) {
                refuse(std::regex_constants::error_backref, "backreference number", i + 1, n);
            }
            i += n > 0 ? n : 1; // the digits, or the one escaped character
            continue;
        }
        if (c == '{') {
            in_braces = true;
        } else if (c == '}') {
            in_braces = false;
            continue;
        } else if (c != ',' || !in_braces) {
            continue;
        }
        const std::size_t n = digits_at(pattern, i + 1);
        if (n > kMaxRegexNumberDigits) {
            refuse(std::regex_constants::error_badbrace, "repetition count", i + 1, n);
        }
        i += n;
    }
}

} // namespace

std::regex compile_user_regex(const std::string& pattern)
{
    check_numbers(pattern);
    return std::regex(pattern);
}

} // namespace minivmm::console
