// Console (expect/send/output/tail) over a ConsoleCapture fed by a fake producer thread, the
// way a vCPU thread feeds it from the UART: one byte per write.
#include <minivmm/console.hpp>

#include "console/console_capture.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

using namespace minivmm;
using namespace std::chrono_literals;

namespace {

void write_text(console::ConsoleCapture& capture, const std::string& text)
{
    const std::vector<uint8_t> bytes(text.begin(), text.end());
    capture.write(bytes);
}

// Writes `text` a byte at a time with `gap` between bytes, on its own thread.
class FakeGuest final {
public:
    FakeGuest(console::ConsoleCapture& capture, std::string text, std::chrono::microseconds gap)
        : thread_([&capture, text = std::move(text), gap, this] {
              for (const char c : text) {
                  if (stop_) {
                      return;
                  }
                  const auto byte = static_cast<uint8_t>(c);
                  capture.write(std::span(&byte, 1));
                  std::this_thread::sleep_for(gap);
              }
          })
    {
    }
    ~FakeGuest()
    {
        stop_ = true;
        thread_.join();
    }

private:
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

struct Harness {
    console::ConsoleCapture capture{1 << 20};
    std::string sent;
    Console console{capture, [this](std::span<const uint8_t> bytes) { sent.append(bytes.begin(), bytes.end()); }};
};

} // namespace

TEST_CASE("expect waits for output that a guest prints a byte at a time", "[unit][console]")
{
    Harness h;
    FakeGuest guest(h.capture, "booting...\r\nready: cpus=4\r\nguest> ", 200us);
    const auto m = h.console.expect(R"(cpus=(\d+))", 10s);
    CHECK(m.text == "cpus=4");
    REQUIRE(m.groups.size() == 1);
    CHECK(m.groups[0] == "4");
    CHECK(m.before == "booting...\r\nready: ");
    CHECK(m.index == 0);
    const auto prompt = h.console.expect("guest> $", 10s);
    CHECK(prompt.before == "\r\n");
}

TEST_CASE("successive expects walk through the output in order", "[unit][console]")
{
    Harness h;
    write_text(h.capture, "one\ntwo\none\n");
    CHECK(h.console.expect("one", 1s).before.empty());
    CHECK(h.console.expect("two", 1s).before == "\n");
    // "one" again: the second one, after "two".
    CHECK(h.console.expect("one", 1s).before == "\n");
    CHECK_THROWS_AS(h.console.expect("two", 50ms), ExpectError);
    CHECK(h.console.output() == "one\ntwo\none\n");
}

TEST_CASE("expect times out with the last console lines in the message", "[unit][console]")
{
    Harness h;
    for (int i = 1; i <= 30; ++i) {
        write_text(h.capture, "line " + std::to_string(i) + "\r\n");
    }
    write_text(h.capture, "partial");
    const auto start = std::chrono::steady_clock::now();
    try {
        (void)h.console.expect("never printed", 300ms);
        FAIL("no ExpectError");
    } catch (const ExpectError& e) {
        const auto waited = std::chrono::steady_clock::now() - start;
        CHECK(waited >= 300ms);
        CHECK(waited < 5s);
        CHECK(e.cause() == ExpectError::Cause::Timeout);
        CHECK(e.kind() == ErrorKind::Expect);
        const std::string what = e.what();
        CHECK_THAT(what, Catch::Contains("/never printed/") && Catch::Contains("within 300 ms"));
        // The last 20 lines: 12..30 and the partial one, without carriage returns.
        CHECK_THAT(what, Catch::Contains("  | line 12\n") && Catch::Contains("  | line 30\n") &&
                             Catch::Contains("  | partial\n"));
        CHECK_THAT(what, !Catch::Contains("line 11\n") && !Catch::Contains("\r"));
        CHECK(e.tail() == h.console.tail(20));
    }
}

TEST_CASE("expect gives up at once when the guest stops without a match", "[unit][console]")
{
    Harness h;
    write_text(h.capture, "Kernel panic - not syncing\n");
    std::thread closer([&] {
        std::this_thread::sleep_for(100ms);
        h.capture.close("guest kernel panicked (pvpanic)");
    });
    const auto start = std::chrono::steady_clock::now();
    try {
        (void)h.console.expect("login:", 30s);
        FAIL("no ExpectError");
    } catch (const ExpectError& e) {
        CHECK(std::chrono::steady_clock::now() - start < 10s);
        CHECK(e.cause() == ExpectError::Cause::GuestStopped);
        CHECK_THAT(e.what(), Catch::Contains("guest kernel panicked") && Catch::Contains("  | Kernel panic"));
    }
    closer.join();
    // What is there still matches after the run ended.
    CHECK(h.console.expect("panic", 1s).text == "panic");
}

TEST_CASE("expect_any returns the earliest match and says which pattern", "[unit][console]")
{
    Harness h;
    FakeGuest guest(h.capture, "x Kernel panic y guest> ", 100us);
    const auto m = h.console.expect_any({"guest> ", "Kernel panic"}, 10s);
    CHECK(m.index == 1);
    CHECK(m.text == "Kernel panic");
    CHECK(h.console.expect_any({"guest> ", "Kernel panic"}, 10s).index == 0);
}

TEST_CASE("a bad expect pattern is a ConfigError naming it", "[unit][console]")
{
    Harness h;
    CHECK_THROWS_AS(h.console.expect("(unclosed", 10ms), ConfigError);
    CHECK_THROWS_WITH(h.console.expect("(unclosed", 10ms), Catch::Contains("/(unclosed/"));
}

TEST_CASE("send and send_line hand the bytes to the input path", "[unit][console]")
{
    Harness h;
    h.console.send("ls");
    h.console.send_line(" -l");
    CHECK(h.sent == "ls -l\n");
}

TEST_CASE("the capture keeps the latest bytes up to its limit", "[unit][console]")
{
    console::ConsoleCapture capture(4096);
    std::string all;
    for (int i = 0; i < 2000; ++i) {
        const std::string line = "line " + std::to_string(i) + "\n";
        write_text(capture, line);
        all += line;
    }
    const auto kept = capture.text();
    CHECK(kept.size() <= 4096);
    CHECK(kept.size() >= 3072);
    CHECK(all.ends_with(kept));
    // Offsets stay absolute: asking from 0 gives what is kept, from its start.
    const auto snap = capture.since(0);
    CHECK(snap.begin == all.size() - kept.size());
    CHECK(snap.text == kept);
    CHECK(capture.since(all.size()).text.empty());
    Console console(capture, [](std::span<const uint8_t>) {});
    CHECK(console.expect("line 1999\n", 1s).groups.empty());
}

TEST_CASE("tail gives whole lines without carriage returns", "[unit][console]")
{
    console::ConsoleCapture capture(1 << 16);
    CHECK(capture.tail(5).empty());
    write_text(capture, "a\r\nb\r\nc\r\n");
    CHECK(capture.tail(2) == "b\nc\n");
    CHECK(capture.tail(10) == "a\nb\nc\n");
    CHECK(capture.tail(0).empty());
    write_text(capture, "prompt> ");
    CHECK(capture.tail(2) == "c\nprompt> \n");
}
