// [kvm]: libminivmm in-process: every way a run ends gives its ExitReason and exit code, and
// the console is there to inspect afterwards.
#include "support/file_contents.hpp"
#include "support/failing_syscall.hpp"
#include "support/library_vm.hpp"
#include "support/virtio_blk_driver.hpp"

#include <filesystem>
#include <fstream>

using namespace minivmm;
using namespace minivmm::test;
using namespace std::chrono_literals;

TEST_CASE("library: a guest poweroff (ACPI S5) is ExitReason::PowerOff, code 0", "[kvm]")
{
    if (!kvm_available()) {
        return;
    }
    std::string console;
    const auto status = run_to_end(test_guest_config("test=acpi"), &console);
    CHECK(status.reason == ExitReason::PowerOff);
    CHECK(status.code == 0);
    CHECK_THAT(console, Catch::Contains("acpi: poweroff requested"));
}

TEST_CASE("library: a guest reset is ExitReason::Reboot, code 0", "[kvm]")
{
    if (!kvm_available()) {
        return;
    }
    const auto status = run_to_end(test_guest_config("test=reset"));
    CHECK(status.reason == ExitReason::Reboot);
    CHECK(status.code == 0);
}

TEST_CASE("library: the debug-exit port gives ExitReason::DebugExit and the guest's code", "[kvm]")
{
    if (!kvm_available()) {
        return;
    }
    const auto status = run_to_end(test_guest_config("test=exit code=42"));
    CHECK(status.reason == ExitReason::DebugExit);
    CHECK(status.code == 42);
    CHECK(status.guest_value == 42);
}

TEST_CASE("library: a debug-exit value above 123 gives code 123 and keeps the value", "[kvm]")
{
    if (!kvm_available()) {
        return;
    }
    const auto status = run_to_end(test_guest_config("test=exit code=200"));
    CHECK(status.reason == ExitReason::DebugExit);
    CHECK(status.code == 123);
    CHECK(status.guest_value == 200);
}

TEST_CASE("library: a disk flush that fails at shutdown ends the run with 125, not success", "[kvm]")
{
    if (!kvm_available()) {
        return;
    }
    // The guest says 0; the host's fdatasync of the image at teardown says EIO.
    TempImage image(1024 * 1024);
    auto config = test_guest_config("test=exit code=0");
    DiskConfig disk;
    disk.path = image.path;
    config.disks.push_back(disk);
    ExitStatus status;
    std::string console;
    run_with_failing_syscall("fdatasync", EIO, [&] {
        auto vm = Vm::create(config);
        vm->start();
        status = vm->wait();
        console = vm->console().output();
    });
    INFO("console:\n" << console);
    CHECK(status.reason == ExitReason::HostFailure);
    CHECK(status.code == exit_code::kVmmFailure);
    CHECK_THAT(status.detail, Catch::Contains("': fdatasync at shutdown failed: Input/output error") &&
                                  Catch::Contains("(the run had ended: guest wrote 0 to the debug-exit port, exit code 0)"));
}

TEST_CASE("library: a triple fault is ExitReason::Crash, code 126", "[kvm]")
{
    if (!kvm_available()) {
        return;
    }
    const auto status = run_to_end(test_guest_config("test=triple-fault"));
    CHECK(status.reason == ExitReason::Crash);
    CHECK(status.code == 126);
}

TEST_CASE("library: the configured timeout gives ExitReason::Timeout, code 124", "[kvm]")
{
    if (!kvm_available()) {
        return;
    }
    auto config = test_guest_config("test=idle");
    config.timeout = 1500ms;
    const auto start = std::chrono::steady_clock::now();
    std::string console;
    const auto status = run_to_end(config, &console);
    CHECK(status.reason == ExitReason::Timeout);
    CHECK(status.code == 124);
    CHECK(std::chrono::steady_clock::now() - start >= 1500ms);
    CHECK_THAT(console, Catch::Contains("idle: waiting"));
}

TEST_CASE("library: the timeout ends the run even while the harness is in expect(), not wait()", "[kvm]")
{
    if (!kvm_available()) {
        return;
    }
    auto config = test_guest_config("test=idle");
    config.timeout = 1s;
    auto vm = Vm::create(config);
    vm->start();
    const auto start = std::chrono::steady_clock::now();
    try {
        (void)vm->console().expect("never printed", 60s);
        FAIL("no ExpectError");
    } catch (const ExpectError& e) {
        CHECK(e.cause() == ExpectError::Cause::GuestStopped);
        CHECK_THAT(e.what(), Catch::Contains("timeout ran out") && Catch::Contains("idle: waiting"));
    }
    CHECK(std::chrono::steady_clock::now() - start < 30s);
    CHECK(vm->wait().reason == ExitReason::Timeout);
}

TEST_CASE("library: stop() gives ExitReason::Stopped, code 0; wait_for times out while it runs", "[kvm]")
{
    if (!kvm_available()) {
        return;
    }
    auto vm = Vm::create(test_guest_config("test=idle"));
    vm->start();
    vm->console().expect("idle: waiting", 60s);
    CHECK_FALSE(vm->wait_for(200ms).has_value());
    vm->stop();
    const auto status = vm->wait();
    CHECK(status.reason == ExitReason::Stopped);
    CHECK(status.code == 0);
}

TEST_CASE("library: exit_on and fail_on end the run from a console line", "[kvm]")
{
    if (!kvm_available()) {
        return;
    }
    // test=idle prints its line and then waits: only the pattern can end the run.
    auto config = test_guest_config("test=idle");
    config.console.exit_on = "^idle: waiting";
    auto status = run_to_end(config);
    CHECK(status.reason == ExitReason::ConsoleMatch);
    CHECK(status.code == 0);
    CHECK_THAT(status.detail, Catch::Contains("idle: waiting for the host"));

    config.console.exit_on.reset();
    config.console.fail_on = R"(test=(\w+))";
    status = run_to_end(config);
    CHECK(status.reason == ExitReason::ConsoleFailure);
    CHECK(status.code == 126);
    CHECK_THAT(status.detail, Catch::Contains("minivmm-test-guest: test=idle"));
}

TEST_CASE("library: expect() follows the test guest's output and sees it stop", "[kvm]")
{
    if (!kvm_available()) {
        return;
    }
    auto config = test_guest_config("test=hello");
    config.console.log = std::filesystem::temp_directory_path() / "minivmm-library-console.log";
    auto vm = Vm::create(config);
    auto& console = vm->console();
    vm->start();
    const auto banner = console.expect(R"(minivmm-test-guest: test=(\w+)\r?\n)", 60s);
    CHECK(banner.groups.at(0) == "hello");
    const auto boot = console.expect(R"(boot: protocol=(\S+) )", 60s);
    CHECK(boot.before.find("Hello from the minivmm test guest") != std::string::npos);
    console.expect("minivmm-test-guest: exit 0", 60s);
    // The guest has ended (or is about to): a pattern that never comes fails fast, not after 60 s.
    const auto start = std::chrono::steady_clock::now();
    try {
        (void)console.expect("never printed", 60s);
        FAIL("no ExpectError");
    } catch (const ExpectError& e) {
        CHECK(e.cause() == ExpectError::Cause::GuestStopped);
        CHECK_THAT(e.tail(), Catch::Contains("minivmm-test-guest: exit 0"));
    }
    CHECK(std::chrono::steady_clock::now() - start < 30s);
    const auto status = vm->wait();
    CHECK(status.reason == ExitReason::DebugExit);
    CHECK(status.code == 0);
    // Everything printed is still there, and went to the log file too.
    const std::string logged = minivmm::test::file_contents(*config.console.log);
    CHECK(logged == console.output());
}
