#include "console/console_backend.hpp"
#include "vmm/exit_latch.hpp"

#include <catch2/catch.hpp>

#include <thread>

using namespace minivmm;

TEST_CASE("Ctrl-A x quits, Ctrl-A Ctrl-A sends one Ctrl-A", "[unit][console]")
{
    console::ConsoleEscape escape;
    const std::vector<uint8_t> plain{'l', 's', '\r'};
    auto r = escape.feed(plain);
    CHECK(r.to_guest == plain);
    CHECK_FALSE(r.quit);

    const std::vector<uint8_t> double_escape{0x01, 0x01, 'a'};
    r = escape.feed(double_escape);
    CHECK(r.to_guest == std::vector<uint8_t>{0x01, 'a'});

    // The escape may arrive in one read and its command in the next.
    const std::vector<uint8_t> first{'z', 0x01};
    r = escape.feed(first);
    CHECK(r.to_guest == std::vector<uint8_t>{'z'});
    const std::vector<uint8_t> second{'x', 'y'};
    r = escape.feed(second);
    CHECK(r.quit);

    const std::vector<uint8_t> other{0x01, 'c'};
    r = escape.feed(other);
    CHECK(r.to_guest == std::vector<uint8_t>{0x01, 'c'});
}

TEST_CASE("the first exit status wins and wakes waiters", "[unit][lifecycle]")
{
    vmm::ExitLatch latch;
    std::thread waiter([&] { CHECK(latch.wait().code == 42); });
    CHECK(latch.set(ExitStatus::debug_exit(42)));
    CHECK_FALSE(latch.set(ExitStatus::power_off()));
    waiter.join();
    CHECK(latch.get()->reason == ExitReason::DebugExit);
    CHECK_FALSE(vmm::ExitLatch().wait_until(std::chrono::steady_clock::now()).has_value());
}

TEST_CASE("exit statuses map to the documented exit codes", "[unit][lifecycle]")
{
    CHECK(ExitStatus::power_off().code == 0);
    CHECK(ExitStatus::reboot().code == 0);
    CHECK(ExitStatus::debug_exit(42).code == 42);
    CHECK(ExitStatus::timeout().code == 124);
    CHECK(ExitStatus::host_failure("x").code == 125);
    CHECK(ExitStatus::host_failure("x").code == 125);
    CHECK(ExitStatus::crash("x").code == 126);
    CHECK(ExitStatus::signal(15).code == 143);
}

TEST_CASE("a guest cannot impersonate minivmm's own exit codes through the debug-exit port", "[unit][lifecycle]")
{
    for (int value = 0; value <= 255; ++value) {
        const auto status = ExitStatus::debug_exit(value);
        INFO("value " << value);
        CHECK(status.reason == ExitReason::DebugExit);
        CHECK(status.guest_value == value);
        CHECK(status.code == std::min(value, exit_code::kGuestMax));
        CHECK(status.code < exit_code::kTimeout);
    }
    CHECK(ExitStatus::debug_exit(125).detail ==
          "guest wrote 125 to the debug-exit port (exit code 123: 124-255 are minivmm's own codes)");
    CHECK(ExitStatus::debug_exit(42).detail == "guest wrote 42 to the debug-exit port");
}
