// Regular expressions from users (--exit-on, --fail-on, Console::expect's strings), compiled
// with std::regex after one check it cannot make itself.
//
// libstdc++'s regex compiler (GCC 12) reads the number of a backreference (\N) or of a
// repetition ({N}, {N,M}) into a long with no overflow check: 19 digits or more are undefined
// behaviour (found by fuzz_cli under UBSan). Numbers of more than kMaxDigits digits are
// refused before std::regex sees them; no useful pattern needs one (libstdc++ refuses any
// pattern of more than 100,000 states anyway).
#pragma once

#include <regex>
#include <string>
#include <string_view>

namespace minivmm::console {

inline constexpr std::size_t kMaxRegexNumberDigits = 6;

// A std::regex_error whose what() says what was wrong with the pattern.
class UserRegexError final : public std::regex_error {
public:
    UserRegexError(std::regex_constants::error_type code, std::string message)
        : std::regex_error(code), message_(std::move(message))
    {
    }
    [[nodiscard]] const char* what() const noexcept override { return message_.c_str(); }

private:
    std::string message_;
};

// std::regex(pattern) (ECMAScript); throws std::regex_error (UserRegexError for a number
// too long to read safely).
[[nodiscard]] std::regex compile_user_regex(const std::string& pattern);

} // namespace minivmm::console
