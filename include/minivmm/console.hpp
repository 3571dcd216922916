// The guest console as a test harness sees it (pexpect's idea): everything the guest printed,
// kept in memory; expect() waits for a regular expression to appear; send() types input.
//
//   auto& console = vm->console();
//   console.expect("login: ", std::chrono::seconds(30));
//   console.send_line("root");
//   auto m = console.expect(R"(crc32=([0-9a-f]{8}))");
//   // m.text == "crc32=...", m.groups[0] == the eight hex digits
//
// Each expect() searches the output after the end of the previous match (its cursor), so a
// sequence of expect() calls walks through the output in order. The output is searched as
// it is, with '\r\n' line ends as a serial console sends them; "." does not cross a line end.
// As with pexpect, a pattern is matched against the output that has arrived so far: one that
// could match more with more output (`\w+`, `.*` at its end) may match a partial word, so
// end such patterns with what follows them: R"(test=(\w+)\r\n)".
#pragma once

#include <minivmm/error.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <regex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace minivmm {

namespace console {
class ConsoleCapture; // minivmm's in-memory transcript of the console (not part of the API)
}

struct ConsoleMatch {
    std::size_t index = 0;           // which pattern matched (expect_any), 0 for expect
    std::string text;                // the text the pattern matched
    std::vector<std::string> groups; // capture groups 1..N ("" for a group that took no part)
    std::string before;              // the output between the previous match and this one
};

// expect() gave up. what() says which pattern, why, and shows the last console lines.
class ExpectError final : public Error {
public:
    enum class Cause {
        Timeout,      // the pattern did not appear in time
        GuestStopped, // the run ended (poweroff, crash, ...) and the output does not match
    };
    ExpectError(Cause cause, const std::string& message, std::string tail)
        : Error(ErrorKind::Expect, message), cause_(cause), tail_(std::move(tail))
    {
    }
    [[nodiscard]] Cause cause() const noexcept { return cause_; }
    // The last console lines when it gave up (also in what()).
    [[nodiscard]] const std::string& tail() const noexcept { return tail_; }

private:
    Cause cause_;
    std::string tail_;
};

class Console final {
public:
    using Sender = std::function<void(std::span<const std::uint8_t>)>;
    static constexpr std::chrono::milliseconds kDefaultTimeout{30'000};
    static constexpr std::size_t kTailLines = 20;

    // Made by Vm (Vm::console()); tests of minivmm make one over a capture of their own.
    Console(console::ConsoleCapture& capture, Sender send);
    Console(const Console&) = delete;
    Console& operator=(const Console&) = delete;

    // Everything the guest printed so far (the latest ConsoleConfig::capture_limit bytes).
    [[nodiscard]] std::string output() const;
    // The last `lines` lines of output, each ending in '\n' ('\r' removed).
    [[nodiscard]] std::string tail(std::size_t lines = kTailLines) const;

    // Waits until `pattern` (ECMAScript syntax) matches the output after the cursor, moves
    // the cursor past the match and returns it. Throws ExpectError on timeout, or at once
    // when the run has ended and the output cannot match any more; ConfigError for a pattern
    // that is not a valid regular expression.
    ConsoleMatch expect(std::string_view pattern, std::chrono::milliseconds timeout = kDefaultTimeout);
    ConsoleMatch expect(const std::regex& pattern, std::chrono::milliseconds timeout = kDefaultTimeout);
    // As expect(), for whichever pattern matches first in the output (the earliest match;
    // on a tie, the first pattern). ConsoleMatch::index says which. E.g. a prompt or a panic:
    //   expect_any({"guest> ", "Kernel panic"}).index == 0
    ConsoleMatch expect_any(const std::vector<std::string>& patterns,
                            std::chrono::milliseconds timeout = kDefaultTimeout);

    // Types `text` into the guest's console (the UART, or the virtio-console): queued and
    // delivered in order, as fast as the guest reads, never dropped. Returns at once; safe
    // from any thread. Input sent after the run ended is discarded.
    void send(std::string_view text);
    // send(line + "\n").
    void send_line(std::string_view line);

private:
    ConsoleMatch wait_for_match(const std::vector<std::regex>& patterns, const std::vector<std::string>& names,
                                std::chrono::milliseconds timeout);

    console::ConsoleCapture& capture_;
    Sender send_;
    mutable std::mutex cursor_mutex_; // one expect() at a time
    std::uint64_t cursor_ = 0;        // offset in the whole output, past the last match
};

} // namespace minivmm
