// seccomp_probe KIND SYSCALL [read-only-open]: installs minivmm's base allow-list for threads
// of KIND (main, vcpu, io, timer) on a thread of that kind (with read-only opens allowed, as
// the user-mode network's back end asks), then makes SYSCALL there, so that a test sees what
// minivmm does when one of its threads makes a call its list forbids (one line on stderr,
// exit 125) or allows (exit 0). SYSCALL is a name from the probes below.
#include "util/sanitizers.hpp"
#include "util/seccomp_filter.hpp"
#include "vmm/seccomp_lists.hpp"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

using namespace minivmm;

namespace {

std::optional<util::ThreadKind> kind_named(const std::string& name)
{
    static const std::map<std::string, util::ThreadKind> kinds{{"main", util::ThreadKind::Main},
                                                               {"vcpu", util::ThreadKind::Vcpu},
                                                               {"io", util::ThreadKind::Io},
                                                               {"timer", util::ThreadKind::Timer},
                                                               {"fs", util::ThreadKind::Fs}};
    const auto it = kinds.find(name);
    return it == kinds.end() ? std::nullopt : std::optional(it->second);
}

// What each probe does; returns 0 when it came back (allowed, or refused with an error).
int run_probe(const std::string& probe)
{
    if (probe == "getpid") {
        return ::getpid() > 0 ? 0 : 1;
    }
    if (probe == "socket") {
        (void)::socket(AF_INET, SOCK_STREAM, 0);
        return 0;
    }
    if (probe == "openat") {
        (void)::syscall(SYS_openat, AT_FDCWD, "/etc/hostname", 0);
        return 0;
    }
    if (probe == "open-read" || probe == "open-write") {
        // Left open: close is not on every list.
        (void)::open("/etc/hostname", probe == "open-read" ? O_RDONLY : O_WRONLY | O_APPEND);
        return 0;
    }
    if (probe == "execve") {
        char* const argv[] = {const_cast<char*>("/bin/true"), nullptr};
        (void)::syscall(SYS_execve, "/bin/true", argv, nullptr);
        return 0;
    }
    if (probe == "fork") {
        const pid_t pid = ::fork(); // clone without CLONE_THREAD
        if (pid == 0) {
            ::_exit(0);
        }
        return 0;
    }
    if (probe == "thread") {
        try {
            std::thread([] {}).join(); // clone with CLONE_THREAD (clone3 says ENOSYS first)
        } catch (const std::system_error& e) {
            std::fprintf(stderr, "seccomp_probe: no thread: %s\n", e.what());
            return 4;
        }
        return 0;
    }
    if (probe == "arenas") {
        // 16 threads alive at once, each allocating: glibc gives each a malloc arena of its
        // own until its limit, which it computes (opening /sys/devices/system/cpu/online) when
        // a ninth is wanted unless it was set before the filter.
        constexpr int kThreads = 16;
        std::atomic<int> allocated{0};
        std::vector<std::thread> threads;
        for (int i = 0; i < kThreads; ++i) {
            threads.emplace_back([&allocated] {
                auto block = std::make_unique<char[]>(64);
                block[0] = 1;
                allocated.fetch_add(1);
                while (allocated.load() < kThreads) {
                    std::this_thread::yield();
                }
            });
        }
        for (auto& thread : threads) {
            thread.join();
        }
        return 0;
    }
    if (probe == "log") {
        // The process's first log line, from a confined thread: its time stamp is local time,
        // which glibc reads from /etc/localtime the first time it is needed.
        spdlog::warn("seccomp_probe: a log line");
        return 0;
    }
    if (probe == "mmap-exec") {
        void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? 1 : 0;
    }
    if (probe == "mmap") {
        void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? 1 : 0;
    }
    std::fprintf(stderr, "seccomp_probe: unknown probe '%s'\n", probe.c_str());
    return 2;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc < 3 || argc > 4 || !kind_named(argv[1]) || (argc == 4 && std::string(argv[3]) != "read-only-open")) {
        std::fprintf(stderr, "usage: seccomp_probe main|vcpu|io|timer PROBE [read-only-open]\n");
        return 2;
    }
    const util::ThreadKind kind = *kind_named(argv[1]);
    const std::string probe = argv[2];
    util::SeccompPolicy policy = vmm::base_seccomp_policy();
    if (argc == 4) {
        policy.allow_read_only_open({kind});
    }
    // As in minivmm, threads were created before any filter (glibc sets up its thread
    // signals on the first one).
    std::thread([] {}).join();
    int rc = 0;
    const auto body = [&] {
        try {
            util::install_seccomp_filter(policy, kind);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "seccomp_probe: %s\n", e.what());
            rc = 3;
            return;
        }
        rc = run_probe(probe);
    };
    if (kind == util::ThreadKind::Main) {
        body(); // the main thread, as the minivmm command confines it
    } else {
        std::thread thread(body); // a thread of its own, as minivmm's threads are
        thread.join();
    }
    if (kind == util::ThreadKind::Main && util::kAddressSanitizer) {
        // LeakSanitizer's check at exit makes a tracer task (clone without CLONE_THREAD, every
        // signal blocked) that inherits this thread's filter and dies of it silently, leaving
        // exit() waiting for it forever: a sanitizer build ends a confined main thread's
        // process without that check.
        std::_Exit(rc);
    }
    return rc;
}
