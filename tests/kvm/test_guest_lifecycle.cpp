// [kvm]: how a run ends from the host side (signals, --timeout), and the demo mode.
#include "support/kvm.hpp"
#include "support/virtio_blk_driver.hpp"
#include "util/sanitizers.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

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

TEST_CASE("every thread of a running minivmm has its seccomp filter and no new privileges; every fd is "
          "close-on-exec",
          "[kvm][seccomp]")
{
    if (!kvm_available()) {
        return;
    }
    const bool on = GENERATE(true, false);
    TempImage disk(1024 * 1024);
    const auto log = std::filesystem::temp_directory_path() / fmt::format("minivmm-cloexec-{}.log", ::getpid());
    // Per thread: the Seccomp / NoNewPrivs lines of /proc/PID/task/TID/status; per fd above
    // stdin/stdout/stderr (which minivmm inherits): the target and the flags of fdinfo.
    std::vector<std::string> threads;
    std::vector<std::pair<std::string, unsigned long>> fds;
    const auto inspect = [&](int pid) {
        for (const auto& fd : std::filesystem::directory_iterator(fmt::format("/proc/{}/fd", pid))) {
            if (std::stoi(fd.path().filename().string()) <= 2) {
                continue;
            }
            std::ifstream info(fmt::format("/proc/{}/fdinfo/{}", pid, fd.path().filename().string()));
            std::string line;
            unsigned long flags = 0;
            while (std::getline(info, line)) {
                if (line.starts_with("flags:")) {
                    flags = std::stoul(line.substr(6), nullptr, 8);
                }
            }
            std::error_code ignored;
            fds.emplace_back(std::filesystem::read_symlink(fd.path(), ignored).string(), flags);
        }
        for (const auto& task : std::filesystem::directory_iterator(fmt::format("/proc/{}/task", pid))) {
            std::ifstream status(task.path() / "status");
            std::string line;
            std::string summary;
            bool kernel_worker = false;
            while (std::getline(status, line)) {
                // The kernel's workers in the process: io_uring's, KVM's NX huge page recovery.
                kernel_worker = kernel_worker || line.starts_with("Name:\tiou-") || line.starts_with("Name:\tkvm-");
                if (line.starts_with("Name:") || line.starts_with("Seccomp:") || line.starts_with("NoNewPrivs:")) {
                    summary += line + " ";
                }
            }
            if (!kernel_worker) {
                threads.push_back(summary);
            }
        }
    };
    std::vector<std::string> argv{MINIVMM_BINARY, "--kernel", MINIVMM_TEST_GUEST_ELF, "--cmdline", "test=idle",
                                  "--mem", "64M", "--cpus", "2", "--seccomp", on ? "on" : "off",
                                  "--disk", "path=" + disk.path.string(), "--console", "virtio,stdout",
                                  "--console-log", log.string()};
    const auto result =
        run_process(argv, std::chrono::seconds(120), "", {"idle: waiting", SIGTERM, inspect});
    INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
    CHECK(result.exit_code == 128 + SIGTERM);
    // main, the signal thread, the RTC timer, the I/O thread and 2 vCPUs
    INFO(fmt::format("{}", fmt::join(threads, "\n")));
    for (const auto& thread : threads) {
        INFO(thread);
        CHECK_THAT(thread, Catch::Contains("NoNewPrivs:\t1"));
    }
    if (minivmm::util::kAddressSanitizer) {
        // The sanitizer builds leave the caller's threads (main, signal) unconfined
        // (Vm::confine_calling_thread: LeakSanitizer's exit check), and their runtime may add
        // a thread: minivmm's own four are confined.
        const auto confined = std::count_if(threads.begin(), threads.end(), [](const std::string& thread) {
            return thread.find("Seccomp:\t2") != std::string::npos;
        });
        CHECK(confined == (on ? 4 : 0));
    } else {
        CHECK(threads.size() == 6);
        for (const auto& thread : threads) {
            INFO(thread);
            CHECK_THAT(thread, Catch::Contains(on ? "Seccomp:\t2" : "Seccomp:\t0"));
        }
    }
    // KVM, the VM and its vCPUs, eventfds, epoll, io_uring, the image, the console files...
    CHECK(fds.size() >= 10);
    for (const auto& [target, flags] : fds) {
        INFO(target << " flags " << std::oct << flags);
        CHECK((flags & O_CLOEXEC) != 0);
    }
    std::filesystem::remove(log);
}
