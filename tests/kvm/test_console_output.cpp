// [kvm]: console output never holds up the run (issue 13, defect 3). A stdout pipe that nobody
// reads used to hang minivmm for good (a blocking write under the console's lock: --timeout
// and SIGTERM no longer ended it), and a reader that went away (`| head -1`) killed it with
// SIGPIPE (exit 141, no teardown, no flush, the guest's verdict lost).
#include "support/guest_pattern.hpp"
#include "support/kvm.hpp"
#include "support/virtio_blk_driver.hpp"

#include <fmt/format.h>

#include <csignal>

using namespace minivmm;
using namespace minivmm::test;
using namespace std::chrono_literals;

namespace {

// The test guest flooding its virtio-console (64 KiB per request, far faster than the UART)
// with stdout the console.
std::vector<std::string> flood_argv(uint64_t bytes, int code, std::vector<std::string> extra = {})
{
    std::vector<std::string> argv{MINIVMM_BINARY,
                                  "--kernel",
                                  MINIVMM_TEST_GUEST_ELF,
                                  "--cmdline",
                                  fmt::format("test=vcon-flood bytes={} code={}", bytes, code),
                                  "--mem",
                                  "64M",
                                  "--console",
                                  "virtio,stdout"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
}

ProcessResult run(const std::vector<std::string>& argv, ProcessOptions options)
{
    options.watchdog = 120s;
    auto result = run_process(argv, options);
    UNSCOPED_INFO("exit " << result.exit_code << " after " << result.elapsed.count() << " ms\nstdout ("
                          << result.out.size() << " bytes, head):\n"
                          << result.out.substr(0, 2000) << "\nstderr:\n"
                          << result.err);
    return result;
}

} // namespace

TEST_CASE("a full stdout pipe nobody reads: the guest's exit, --timeout and SIGTERM still end the run",
          "[kvm][console-output]")
{
    if (!kvm_available()) {
        return;
    }
    ProcessOptions options;
    options.stdout_reader = StdoutReader::NeverRead;
    SECTION("the guest's own exit, with its code")
    {
        // 8 MiB: more than the pipe (64 KiB) and minivmm's buffer (1 MiB) hold.
        const auto result = run(flood_argv(8 << 20, 7), options);
        REQUIRE_FALSE(result.timed_out);
        CHECK(result.exit_code == 7);
        CHECK_THAT(result.err, Catch::Contains("bytes of guest output were not written to stdout: it stopped taking"));
    }
    SECTION("--timeout")
    {
        const auto result = run(flood_argv(0, 0, {"--timeout", "5s"}), options);
        REQUIRE_FALSE(result.timed_out);
        CHECK(result.exit_code == 124);
        CHECK(result.elapsed < 60s);
    }
    SECTION("SIGTERM")
    {
        options.signal_after_delay = SIGTERM;
        options.delay = 5s;
        const auto result = run(flood_argv(0, 0), options);
        REQUIRE_FALSE(result.timed_out);
        CHECK(result.exit_code == 128 + SIGTERM);
    }
}

TEST_CASE("| head -1: the reader goes away, the run still ends with the guest's verdict and a flushed disk",
          "[kvm][console-output]")
{
    if (!kvm_available()) {
        return;
    }
    ProcessOptions options;
    options.stdout_reader = StdoutReader::FirstLine;
    SECTION("a flood on the virtio-console")
    {
        const auto result = run(flood_argv(4 << 20, 5), options);
        REQUIRE_FALSE(result.timed_out);
        CHECK(result.exit_code == 5);
        CHECK_THAT(result.out, Catch::StartsWith("minivmm-test-guest: test=vcon-flood"));
        CHECK_THAT(result.err, Catch::Contains("bytes of guest output were not written to stdout: it was closed"));
    }
    SECTION("a disk write on the UART console: data on the disk")
    {
        constexpr uint32_t kSeed = 0x5eed1234;
        constexpr uint64_t kSectors = 512;
        TempImage image(4 * kMiB);
        const std::vector<std::string> argv{MINIVMM_BINARY,
                                            "--kernel",
                                            MINIVMM_TEST_GUEST_ELF,
                                            "--cmdline",
                                            fmt::format("test=blk-write seed={} sectors={}", kSeed, kSectors),
                                            "--mem",
                                            "64M",
                                            "--console",
                                            "stdout",
                                            "--disk",
                                            "path=" + image.path.string()};
        const auto result = run(argv, options);
        REQUIRE_FALSE(result.timed_out);
        CHECK(result.exit_code == 0);
        CHECK_THAT(result.out, Catch::StartsWith("minivmm-test-guest: test=blk-write"));
        CHECK(image.read(0, kSectors * 512) == xorshift_pattern(kSeed, kSectors * 512));
    }
}
