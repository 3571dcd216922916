// [linux]: minivmm as a CI step. The verdict comes from the guest: the status of the command
// that minivmm.run= ran, a console line (--exit-on, --fail-on), or --timeout with the last
// console lines on stderr. (A kernel panic without --fail-on: test_linux_guest.cpp.)
#include "support/file_contents.hpp"
#include "support/linux_guest.hpp"

#include <filesystem>
#include <fstream>

using namespace minivmm::test;

namespace {

LinuxBoot ci_boot(const std::string& run, const std::string& action, std::vector<std::string> flags)
{
    LinuxBoot boot{.kernel = "vmlinuz-cloud", .initrd = "initramfs-cloud.cpio.gz", .mem = "256M", .cpus = 1,
                   .action = action, .extra_args = std::move(flags), .console = "ttyS0", .run = run};
    return boot;
}

std::string read_file(const std::filesystem::path& path)
{
    return minivmm::test::file_contents(path);
}

} // namespace

TEST_CASE("minivmm.run='true' ends minivmm with 0", "[linux]")
{
    if (!linux_tier_available()) {
        return;
    }
    // The action would reboot (also 0) if the run's status did not end the VM first; a
    // command's status is reported through the debug-exit port, so 0 must come from there.
    const auto boot = ci_boot("true", "panic", {"--console", "stdout"});
    const auto& result = boot_linux(boot);
    INFO(boot_log(boot, result));
    CHECK_THAT(result.out, Catch::Contains("minivmm-guest: run exit=0"));
    CHECK(result.exit_code == 0);
}

TEST_CASE("minivmm.run='exit 3' ends minivmm with 3", "[linux]")
{
    if (!linux_tier_available()) {
        return;
    }
    const auto boot = ci_boot("exit 3", "poweroff", {"--console", "stdout"});
    const auto& result = boot_linux(boot);
    INFO(boot_log(boot, result));
    CHECK_THAT(result.out, Catch::Contains("minivmm-guest: run exit=3"));
    CHECK(result.exit_code == 3);
}

TEST_CASE("--timeout ends a hung CI run with 124 and prints the last console lines", "[linux]")
{
    if (!linux_tier_available()) {
        return;
    }
    // The LinuxBoot's own --timeout 120s is overridden by the later one (last flag wins).
    const auto boot = ci_boot("echo hung-test-started; sleep 600", "poweroff", {"--console", "none", "--timeout", "40s"});
    const auto& result = boot_linux(boot);
    INFO(boot_log(boot, result));
    CHECK(result.exit_code == 124);
    CHECK(result.out.empty()); // --console none: the tail on stderr is all there is
    CHECK_THAT(result.err, Catch::Contains("minivmm: last 20 console lines:"));
    CHECK_THAT(result.err, Catch::Contains("  | hung-test-started"));
    CHECK_THAT(result.err, Catch::Contains("  | MINIVMM-GUEST-READY"));
}

TEST_CASE("--fail-on 'Kernel panic' ends minivmm with 126 from the console line", "[linux]")
{
    if (!linux_tier_available()) {
        return;
    }
    const auto boot = ci_boot("", "panic", {"--console", "stdout", "--fail-on", "Kernel panic"});
    const auto& result = boot_linux(boot);
    INFO(boot_log(boot, result));
    CHECK(result.exit_code == 126);
    // The console line came before pvpanic's report, so it decided the run.
    // The whole line, with the kernel's timestamp: "... fail-on pattern: [    4.14] Kernel panic - ...".
    CHECK_THAT(result.err, Catch::Contains("console matched the fail-on pattern: [") &&
                               Catch::Contains("] Kernel panic - not syncing: sysrq triggered crash (exit code 126)"));
}

TEST_CASE("--exit-on MARKER ends minivmm with 0 once the guest prints it; --console-log keeps the console",
          "[linux]")
{
    if (!linux_tier_available()) {
        return;
    }
    const auto log = std::filesystem::temp_directory_path() / "minivmm-linux-ci-console.log";
    std::filesystem::remove(log);
    // The marker is computed by the guest's shell, so the kernel command line (which the
    // kernel may print) does not contain it.
    const auto boot = ci_boot("echo CI-MARKER-$((40 + 2)); sleep 600", "poweroff",
                              {"--console", "stdout", "--exit-on", "^CI-MARKER-42$", "--console-log", log.string()});
    const auto& result = boot_linux(boot);
    INFO(boot_log(boot, result));
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("CI-MARKER-42"));
    CHECK_THAT(result.out, !Catch::Contains("run exit="));
    const auto logged = read_file(log);
    CHECK_THAT(logged, Catch::Contains("MINIVMM-GUEST-READY") && Catch::Contains("CI-MARKER-42"));
    CHECK(logged == result.out);
}
