// [kvm]: how a run ends from the host side (signals, --timeout), and the demo mode.
#include "support/kvm.hpp"

#include <csignal>

#include <fmt/format.h>

using namespace minivmm::test;

TEST_CASE("SIGTERM stops the guest and minivmm exits 128+15", "[kvm]")
{
    if (!kvm_available()) {
        return;
    }
    const int signo = GENERATE(SIGTERM, SIGINT);
    const auto result = run_process({MINIVMM_BINARY, "--kernel", MINIVMM_TEST_GUEST_ELF, "--cmdline", "test=idle",
                                     "--mem", "64M", "--cpus", "2"},
                                    std::chrono::seconds(120), "", {"idle: waiting", signo});
    INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
    CHECK_FALSE(result.timed_out);
    CHECK_THAT(result.out, Catch::Contains("idle: waiting"));
    CHECK(result.exit_code == 128 + signo);
    CHECK_THAT(result.err, Catch::Contains(fmt::format("stopped by signal {}", signo)));
}

TEST_CASE("--timeout ends a guest that never exits with 124", "[kvm]")
{
    if (!kvm_available()) {
        return;
    }
    const auto result = run_test_guest(GuestImage::BzImage, "test=idle",
                                       {.mem = "64M", .cpus = 1, .extra = {"--timeout", "3s"}});
    CHECK(result.exit_code == 124);
    CHECK_THAT(result.out, Catch::Contains("idle: waiting"));
    CHECK_THAT(result.err, Catch::Contains("timeout"));
    // The console tail on stderr, for a CI log where stdout went elsewhere.
    CHECK_THAT(result.err, Catch::Contains("minivmm: last 20 console lines:\n") &&
                               Catch::Contains("  | minivmm-test-guest: test=idle\n") &&
                               Catch::Contains("  | idle: waiting for the host to stop the VM\n"));
}

TEST_CASE("--exit-on and --fail-on end the run when a console line matches", "[kvm]")
{
    if (!kvm_available()) {
        return;
    }
    auto result = run_test_guest(GuestImage::Elf, "test=idle", {.mem = "64M", .cpus = 1, .extra = {"--exit-on", "^idle: w"}});
    CHECK(result.exit_code == 0);
    result = run_test_guest(GuestImage::Elf, "test=idle",
                            {.mem = "64M", .cpus = 1, .extra = {"--exit-on", "idle: w", "--fail-on", "waiting"}});
    CHECK(result.exit_code == 126); // the line matches both: failure wins
    CHECK_THAT(result.err, Catch::Contains("fail-on pattern: idle: waiting"));
}

TEST_CASE("demo mode shows the machine the guest was given", "[kvm]")
{
    if (!kvm_available()) {
        return;
    }
    const auto result = run_test_guest(GuestImage::Elf, "test=demo", {.mem = "256M", .cpus = 2, .extra = {}});
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("usable"));
    CHECK_THAT(result.out, Catch::Contains("2 reported in"));
    CHECK_THAT(result.out, Catch::Contains("COM1 at 0x3f8 present"));
    CHECK_THAT(result.out, Catch::Contains("demo: done"));
}
