#include "util/seccomp_filter.hpp"

#include <minivmm/error.hpp>

#include <fmt/format.h>

#include <csignal>
#include <malloc.h>
#include <seccomp.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>

namespace minivmm::util {
namespace {

constexpr int kMaxSyscall = 512;
constexpr std::size_t kNameLength = 32;
constexpr int kForbiddenExitCode = 125; // exit_code::kVmmFailure (util may not include vmm)

// System call names by number, filled before the first filter is loaded: the SIGSYS handler
// may not allocate or call libseccomp.
std::array<std::array<char, kNameLength>, kMaxSyscall> g_names{};

thread_local ThreadKind t_kind = ThreadKind::Main;

// Async-signal-safe appending to a fixed buffer.
struct Line {
    std::array<char, 320> text{};
    std::size_t len = 0;
    void add(const char* s)
    {
        while (*s != '\0' && len < text.size()) {
            text[len++] = *s++;
        }
    }
    void add_number(long value)
    {
        char digits[24];
        int n = 0;
        unsigned long v = value < 0 ? 0UL - static_cast<unsigned long>(value) : static_cast<unsigned long>(value);
        do {
            digits[n++] = static_cast<char>('0' + v % 10);
            v /= 10;
        } while (v != 0 && n < 23);
        if (value < 0 && len < text.size()) {
            text[len++] = '-';
        }
        while (n > 0 && len < text.size()) {
            text[len++] = digits[--n];
        }
    }
};

void on_sigsys(int /*signo*/, siginfo_t* info, void* /*context*/)
{
    const int nr = info->si_syscall;
    const char* name = nr >= 0 && nr < kMaxSyscall && g_names[static_cast<std::size_t>(nr)][0] != '\0'
                           ? g_names[static_cast<std::size_t>(nr)].data()
                           : "unknown";
    Line line;
    line.add("minivmm: error: seccomp: the ");
    line.add(to_string(t_kind).data());
    line.add(" thread made a system call its allow-list forbids: ");
    line.add(name);
    line.add(" (");
    line.add_number(nr);
    line.add("); stopping with exit code 125 (--seccomp off runs without the filter)\n");
    [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, line.text.data(), line.len);
    ::syscall(SYS_exit_group, kForbiddenExitCode);
}

// glibc's malloc sizes its arena limit lazily: the first thread that would make a ninth arena
// calls get_nprocs(), which opens /sys/devices/system/cpu/online, and under a filter that open
// traps (seen: the exec command's signal thread, its first allocation after the virtio-fs
// workers had made their arenas). Setting the limit glibc would compute (8 per CPU on 64-bit)
// before any filter is loaded means it is never computed later. A limit the user set
// (MALLOC_ARENA_MAX, or the glibc.malloc.arena_max tunable) is already known to glibc.
void fix_malloc_arena_limit()
{
    const char* tunables = std::getenv("GLIBC_TUNABLES");
    if (std::getenv("MALLOC_ARENA_MAX") != nullptr ||
        (tunables != nullptr && std::strstr(tunables, "arena_max") != nullptr)) {
        return;
    }
    const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
    (void)::mallopt(M_ARENA_MAX, static_cast<int>(8 * (cpus > 0 ? cpus : 1)));
}

// glibc reads the local time zone (/etc/localtime, or TZ's file) the first time local time is
// needed, which for us is the first log line's time stamp: from a confined thread that open
// traps (seen: a warning, the first line of a `minivmm exec` run, from its I/O thread). Read
// before any filter, it is not read again (localtime_r does not reread it).
void load_time_zone() { ::tzset(); }

void prepare_once()
{
    static std::once_flag once;
    std::call_once(once, [] {
        fix_malloc_arena_limit();
        load_time_zone();
        for (int nr = 0; nr < kMaxSyscall; ++nr) {
            std::unique_ptr<char, decltype(&std::free)> name(seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr),
                                                             &std::free);
            if (name) {
                std::strncpy(g_names[static_cast<std::size_t>(nr)].data(), name.get(), kNameLength - 1);
            }
        }
        struct sigaction action {};
        action.sa_sigaction = on_sigsys;
        sigemptyset(&action.sa_mask);
        action.sa_flags = SA_SIGINFO;
        if (::sigaction(SIGSYS, &action, nullptr) != 0) {
            throw HostError(fmt::format("seccomp: sigaction(SIGSYS) failed: {}", std::strerror(errno)));
        }
    });
}

int resolve(std::string_view name, ThreadKind kind)
{
    const int nr = seccomp_syscall_resolve_name(std::string(name).c_str());
    if (nr == __NR_SCMP_ERROR) {
        throw HostError(fmt::format("seccomp: the {} thread's allow-list names an unknown system call '{}'",
                                    to_string(kind), name));
    }
    return nr;
}

void check(int rc, std::string_view what, ThreadKind kind)
{
    if (rc < 0) {
        throw HostError(
            fmt::format("seccomp: {} for the {} thread's filter failed: {}", what, to_string(kind), std::strerror(-rc)));
    }
}

} // namespace

std::string_view to_string(ThreadKind kind)
{
    switch (kind) {
    case ThreadKind::Main: return "main";
    case ThreadKind::Vcpu: return "vCPU";
    case ThreadKind::Io: return "I/O";
    case ThreadKind::Timer: return "RTC timer";
    case ThreadKind::Fs: return "virtio-fs server";
    }
    return "unknown";
}

void SeccompPolicy::allow(std::initializer_list<ThreadKind> kinds, std::initializer_list<std::string_view> syscalls)
{
    for (const ThreadKind kind : kinds) {
        for (const std::string_view name : syscalls) {
            lists_[static_cast<std::size_t>(kind)].emplace(name);
        }
    }
}

void SeccompPolicy::allow(const std::array<ThreadKind, 3>& kinds, std::initializer_list<std::string_view> syscalls)
{
    for (const ThreadKind kind : kinds) {
        allow({kind}, syscalls);
    }
}

void SeccompPolicy::allow_thread_creation(ThreadKind kind) { thread_creation_[static_cast<std::size_t>(kind)] = true; }

const std::set<std::string>& SeccompPolicy::allowed(ThreadKind kind) const
{
    return lists_[static_cast<std::size_t>(kind)];
}

void SeccompPolicy::allow_read_only_open(std::initializer_list<ThreadKind> kinds)
{
    for (const ThreadKind kind : kinds) {
        read_only_open_[static_cast<std::size_t>(kind)] = true;
    }
}

void SeccompPolicy::allow_read_only_open(const std::array<ThreadKind, 3>& kinds)
{
    for (const ThreadKind kind : kinds) {
        allow_read_only_open({kind});
    }
}

bool SeccompPolicy::opens_read_only(ThreadKind kind) const { return read_only_open_[static_cast<std::size_t>(kind)]; }

bool SeccompPolicy::creates_threads(ThreadKind kind) const { return thread_creation_[static_cast<std::size_t>(kind)]; }

bool seccomp_available() { return seccomp_api_get() >= 1; }

void install_seccomp_filter(const SeccompPolicy& policy, ThreadKind kind)
{
    prepare_once();
    std::unique_ptr<void, decltype(&seccomp_release)> ctx(seccomp_init(SCMP_ACT_TRAP), &seccomp_release);
    if (!ctx) {
        throw HostError(fmt::format("seccomp: cannot start a filter for the {} thread", to_string(kind)));
    }
    // Always: the SIGSYS report itself, and returning from signal handlers (the vCPU kick).
    for (const char* name : {"write", "exit_group", "rt_sigreturn"}) {
        check(seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, resolve(name, kind), 0), name, kind);
    }
    const auto& list = policy.allowed(kind);
    for (const std::string& name : list) {
        if (!policy.executable_mappings() && (name == "mmap" || name == "mprotect")) {
            // Never executable memory: nothing minivmm does needs it, and an attacker would.
            check(seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, resolve(name, kind), 1,
                                   SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)),
                  name, kind);
            continue;
        }
        check(seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, resolve(name, kind), 0), name, kind);
    }
    if (!list.contains("clone")) {
        // A new thread: allowed where the kind creates threads; elsewhere refused with EPERM
        // (pthread_create fails), not trapped: glibc blocks every signal around clone, and a
        // blocked SIGSYS would kill the process without the report. A new process (clone
        // without CLONE_THREAD, as fork does): trapped.
        check(seccomp_rule_add(ctx.get(), policy.creates_threads(kind) ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO(EPERM),
                               SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD)),
              "clone", kind);
    }
    if (policy.opens_read_only(kind) && !list.contains("openat")) {
        constexpr uint64_t kWriting = O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND | O_TMPFILE;
        check(seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, SCMP_SYS(openat), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, kWriting, 0)),
              "openat", kind);
    }
    if (!list.contains("clone3")) {
        check(seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0), "clone3", kind);
    }
    t_kind = kind; // for the SIGSYS report, from the moment the filter holds
    check(seccomp_load(ctx.get()), "loading", kind); // sets PR_SET_NO_NEW_PRIVS first
}

} // namespace minivmm::util
