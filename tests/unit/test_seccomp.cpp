// seccomp allow-lists (docs/architecture.md "Seccomp"): a forbidden system call on any kind of
// minivmm thread ends the process with exit code 125 and one line naming the call and the
// thread; allowed ones work; threads but never processes may be created; no executable
// memory. The probe installs the real lists (vmm/seccomp_lists.cpp) and makes the call on
// purpose; run under the default build and the ASan build alike.
#include "support/run_process.hpp"
#include "util/sanitizers.hpp"
#include "util/seccomp_filter.hpp"
#include "vmm/seccomp_lists.hpp"

#include <minivmm/error.hpp>
#include <minivmm/vm_config.hpp>

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <string>

using namespace minivmm;
using minivmm::test::run_process;

namespace {

test::ProcessResult probe(const std::string& kind, const std::string& call, const std::string& option = "")
{
    std::vector<std::string> argv{MINIVMM_SECCOMP_PROBE, kind, call};
    if (!option.empty()) {
        argv.push_back(option);
    }
    auto result = run_process(argv, std::chrono::seconds(30));
    UNSCOPED_INFO("seccomp_probe " << kind << " " << call << ": exit " << result.exit_code << ", stderr:\n"
                                   << result.err);
    return result;
}

std::string forbidden_line(const std::string& thread, const std::string& call, int nr)
{
    return fmt::format("minivmm: error: seccomp: the {} thread made a system call its allow-list forbids: {} ({}); "
                       "stopping with exit code 125 (--seccomp off runs without the filter)\n",
                       thread, call, nr);
}

constexpr bool kAsan = util::kAddressSanitizer;

} // namespace

TEST_CASE("seccomp: a forbidden system call ends the process with 125 and names the call and the thread",
          "[unit][seccomp]")
{
    if (!util::seccomp_available()) {
        WARN("SKIPPED: no seccomp filters on this kernel");
        return;
    }
    const auto [kind, thread] = GENERATE(std::pair{"main", "main"}, std::pair{"vcpu", "vCPU"},
                                         std::pair{"io", "I/O"}, std::pair{"timer", "RTC timer"});
    auto result = probe(kind, "socket");
    CHECK(result.exit_code == 125);
    CHECK(result.err == forbidden_line(thread, "socket", 41));
    if (!kAsan) { // the sanitizer runtime may open files (reports, symbolizer)
        result = probe(kind, "openat");
        CHECK(result.exit_code == 125);
        CHECK(result.err == forbidden_line(thread, "openat", 257));
    }
    result = probe(kind, "getpid");
    CHECK(result.exit_code == 0);
    CHECK(result.err.empty());
}

TEST_CASE("seccomp: threads may be created (main only), processes and programs never", "[unit][seccomp]")
{
    if (!util::seccomp_available()) {
        WARN("SKIPPED: no seccomp filters on this kernel");
        return;
    }
    auto result = probe("main", "thread");
    CHECK(result.exit_code == 0);
    if (!kAsan) { // the sanitizer runtime's symbolizer and leak checker need clone and execve
        result = probe("vcpu", "thread"); // refused with EPERM: pthread_create fails
        CHECK(result.exit_code == 4);
        CHECK_THAT(result.err, Catch::Contains("no thread: Operation not permitted"));
        result = probe("main", "fork");
        CHECK(result.exit_code == 125);
        CHECK(result.err == forbidden_line("main", "clone", 56));
        result = probe("io", "execve");
        CHECK(result.exit_code == 125);
        CHECK(result.err == forbidden_line("I/O", "execve", 59));
    }
}

TEST_CASE("seccomp: many threads allocating at once need no system call outside the list", "[unit][seccomp]")
{
    if (!util::seccomp_available()) {
        WARN("SKIPPED: no seccomp filters on this kernel");
        return;
    }
    // Regression: glibc's malloc computed its arena limit on the ninth thread's first
    // allocation by opening a /sys file, which trapped (minivmm exec, SIGTERM with a share).
    const auto result = probe("main", "arenas");
    CHECK(result.exit_code == 0);
    CHECK(result.err.empty());
}

TEST_CASE("seccomp: a confined thread may write the process's first log line", "[unit][seccomp]")
{
    if (!util::seccomp_available()) {
        WARN("SKIPPED: no seccomp filters on this kernel");
        return;
    }
    // Regression: the first log line read the time zone (/etc/localtime: openat) and sized
    // stdout's buffer (newfstatat), both traps; seen as exit 125 in `minivmm exec` when a
    // warning came from its I/O thread.
    for (const char* kind : {"main", "vcpu", "io", "timer", "fs"}) {
        INFO(kind);
        const auto result = probe(kind, "log");
        CHECK(result.exit_code == 0);
        CHECK_THAT(result.out, Catch::Contains("[warning] seccomp_probe: a log line"));
        CHECK(result.err.empty());
    }
}

TEST_CASE("seccomp: memory may be mapped, never executable", "[unit][seccomp]")
{
    if (!util::seccomp_available()) {
        WARN("SKIPPED: no seccomp filters on this kernel");
        return;
    }
    auto result = probe("vcpu", "mmap");
    CHECK(result.exit_code == 0);
    if (!kAsan) { // a sanitizer build allows executable mappings (its symbolizer)
        result = probe("vcpu", "mmap-exec");
        CHECK(result.exit_code == 125);
        CHECK(result.err == forbidden_line("vCPU", "mmap", 9));
    }
}

TEST_CASE("seccomp: a thread allowed read-only opens may read a file, never write one", "[unit][seccomp]")
{
    if (!util::seccomp_available() || kAsan) { // the sanitizer runtime may open files for writing
        WARN("SKIPPED: no seccomp filters here, or an ASan build");
        return;
    }
    auto result = probe("io", "open-read", "read-only-open");
    CHECK(result.exit_code == 0);
    result = probe("io", "open-write", "read-only-open");
    CHECK(result.exit_code == 125);
    CHECK(result.err == forbidden_line("I/O", "openat", 257));
    result = probe("io", "open-read"); // not asked for: refused
    CHECK(result.exit_code == 125);
}

TEST_CASE("seccomp: a list naming an unknown system call is refused before anything is loaded", "[unit][seccomp]")
{
    util::SeccompPolicy policy = vmm::base_seccomp_policy();
    policy.allow({util::ThreadKind::Io}, {"no_such_call"});
    CHECK_THROWS_WITH(util::install_seccomp_filter(policy, util::ThreadKind::Io),
                      "seccomp: the I/O thread's allow-list names an unknown system call 'no_such_call'");
}

TEST_CASE("seccomp is on by default and off with --seccomp off", "[unit][seccomp]")
{
    CHECK(VmConfig{}.seccomp);
}
