// Console: expect() over the in-memory capture, send() into the console input path.
#include <minivmm/console.hpp>

#include "console/console_capture.hpp"
#include "console/user_regex.hpp"

#include <fmt/format.h>

#include <optional>
#include <thread>

namespace minivmm {
namespace {

// After new output wakes expect(), it waits this much longer before searching, so that a
// line printed a byte at a time (one UART write per byte) is searched once, not per byte.
constexpr std::chrono::milliseconds kSettle{2};

struct Found {
    std::size_t index = 0;
    std::size_t begin = 0;
    std::size_t end = 0;
    std::smatch match;
};

// The earliest match of any pattern in `text` (on a tie, the first pattern).
std::optional<Found> search(const std::vector<std::regex>& patterns, const std::string& text)
{
    std::optional<Found> best;
    for (std::size_t i = 0; i < patterns.size(); ++i) {
        std::smatch m;
        if (!std::regex_search(text, m, patterns[i])) {
            continue;
        }
        const auto begin = static_cast<std::size_t>(m.position(0));
        if (!best || begin < best->begin) {
            best = Found{i, begin, begin + static_cast<std::size_t>(m.length(0)), m};
        }
    }
    return best;
}

std::string describe(const std::vector<std::string>& names)
{
    std::string s;
    for (const auto& name : names) {
        s += (s.empty() ? "" : " or ") + fmt::format("/{}/", name);
    }
    return s;
}

std::string indent(const std::string& tail)
{
    if (tail.empty()) {
        return "  (no console output)\n";
    }
    std::string s;
    std::size_t pos = 0;
    while (pos < tail.size()) {
        const auto nl = tail.find('\n', pos);
        s += "  | " + tail.substr(pos, nl - pos + 1);
        pos = nl + 1;
    }
    return s;
}

std::regex compile(const std::string& pattern)
{
    try {
        return console::compile_user_regex(pattern);
    } catch (const std::regex_error& e) {
        throw ConfigError(fmt::format("expect pattern /{}/ is not a valid regular expression: {}", pattern, e.what()));
    }
}

} // namespace

Console::Console(console::ConsoleCapture& capture, Sender send) : capture_(capture), send_(std::move(send)) {}

std::string Console::output() const { return capture_.text(); }

std::string Console::tail(std::size_t lines) const { return capture_.tail(lines); }

ConsoleMatch Console::expect(std::string_view pattern, std::chrono::milliseconds timeout)
{
    return expect_any({std::string(pattern)}, timeout);
}

ConsoleMatch Console::expect(const std::regex& pattern, std::chrono::milliseconds timeout)
{
    return wait_for_match({pattern}, {"(a std::regex)"}, timeout);
}

ConsoleMatch Console::expect_any(const std::vector<std::string>& patterns, std::chrono::milliseconds timeout)
{
    std::vector<std::regex> compiled;
    for (const auto& pattern : patterns) {
        compiled.push_back(compile(pattern));
    }
    return wait_for_match(compiled, patterns, timeout);
}

ConsoleMatch Console::wait_for_match(const std::vector<std::regex>& patterns, const std::vector<std::string>& names,
                                     std::chrono::milliseconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::lock_guard lock(cursor_mutex_);
    for (;;) {
        auto snap = capture_.since(cursor_);
        if (auto found = search(patterns, snap.text)) {
            ConsoleMatch result;
            result.index = found->index;
            result.text = found->match.str(0);
            for (std::size_t g = 1; g < found->match.size(); ++g) {
                result.groups.push_back(found->match.str(g));
            }
            result.before = snap.text.substr(0, found->begin);
            cursor_ = snap.begin + found->end;
            return result;
        }
        if (snap.closed) {
            const auto tail = capture_.tail(kTailLines);
            throw ExpectError(ExpectError::Cause::GuestStopped,
                              fmt::format("console never matched {}: the guest stopped ({}); last console lines:\n{}",
                                          describe(names), *snap.closed, indent(tail)),
                              tail);
        }
        const uint64_t end = snap.begin + snap.text.size();
        if (!capture_.wait_past(end, deadline)) {
            // One last look: output may have arrived just as the time ran out.
            snap = capture_.since(cursor_);
            if (snap.begin + snap.text.size() == end) {
                const auto tail = capture_.tail(kTailLines);
                throw ExpectError(ExpectError::Cause::Timeout,
                                  fmt::format("console did not match {} within {} ms; last console lines:\n{}",
                                              describe(names), timeout.count(), indent(tail)),
                                  tail);
            }
            continue;
        }
        std::this_thread::sleep_until(std::min(deadline, std::chrono::steady_clock::now() + kSettle));
    }
}

void Console::send(std::string_view text)
{
    const std::vector<uint8_t> bytes(text.begin(), text.end());
    send_(bytes);
}

void Console::send_line(std::string_view line)
{
    std::string text(line);
    text.push_back('\n');
    send(text);
}

} // namespace minivmm
