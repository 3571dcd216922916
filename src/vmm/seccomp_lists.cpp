#include "vmm/seccomp_lists.hpp"

#include "util/sanitizers.hpp"

namespace minivmm::vmm {

namespace {

using util::ThreadKind;

constexpr auto kAll = {ThreadKind::Main, ThreadKind::Vcpu, ThreadKind::Io, ThreadKind::Timer, ThreadKind::Fs};

} // namespace

util::SeccompPolicy base_seccomp_policy()
{
    util::SeccompPolicy policy;
    // Any thread: the C++ runtime and glibc (locks, allocation, time, thread exit), logging,
    // and the kick signals that stop vCPUs (sent from any thread that ends the run). mmap and
    // mprotect never with PROT_EXEC (the filter adds that condition). Logging may be the
    // process's first use of a stdio stream (a library user's logger on stdout, or a log
    // file): glibc sizes the stream's buffer with fstat on its fd then (newfstatat with an
    // empty path); the time zone it needs is read before any filter (util/seccomp_filter.cpp).
    policy.allow(kAll, {"futex", "mmap", "munmap", "mremap", "mprotect", "madvise", "brk", "clock_gettime",
                        "clock_nanosleep", "nanosleep", "sched_yield", "getpid", "gettid", "tgkill",
                        "rt_sigprocmask", "rt_sigreturn", "restart_syscall", "write", "exit", "exit_group",
                        "fstat", "newfstatat"});
    // vCPU: KVM_RUN and the vCPU ioctls (registers for a crash report), KVM_IRQ_LINE; eventfds
    // (queue notifications, irqfds, console wake-ups) and the watches devices change when
    // activated or reset.
    policy.allow({ThreadKind::Vcpu}, {"ioctl", "read", "epoll_ctl"});
    // I/O: the event loop, eventfds, console input (stdin) and output (a socket: sendto),
    // KVM_IRQ_LINE for the UART's interrupt when input arrives.
    policy.allow({ThreadKind::Io}, {"epoll_wait", "epoll_pwait", "epoll_ctl", "read", "sendto", "ioctl"});
    // Main: waiting for the run, stopping it (sigwait), and teardown: device resets and
    // flushes, the console's last output (poll, fcntl to restore flags), closing every fd,
    // restoring the terminal, and the signal thread it starts (which inherits this list).
    policy.allow({ThreadKind::Main},
                 {"read", "epoll_ctl", "ioctl", "close", "poll", "ppoll", "fcntl", "sendto", "fstat", "newfstatat",
                  "rt_sigtimedwait", "rt_sigpending", "set_robust_list", "rseq", "sched_getaffinity"});
    policy.allow_thread_creation(ThreadKind::Main);
    // The RTC's timer thread: KVM_IRQ_LINE for the periodic, alarm and update interrupts.
    policy.allow({ThreadKind::Timer}, {"ioctl"});
    // A virtio-fs server's threads (they exist only with --share): putting a reply on the used
    // ring raises the transport's interrupt (KVM_IRQ_LINE) and reads the completion eventfd;
    // the host file-system calls are the server's own (backends::FuseServer::add_syscalls).
    policy.allow({ThreadKind::Fs}, {"ioctl", "read", "close"});
    if (util::kAddressSanitizer) {
        // The sanitizer runtimes (ASan builds only): their allocator, reports (which read
        // /proc/self/maps and may start a symbolizer) and LeakSanitizer at exit (a tracer
        // task that stops every thread with ptrace).
        policy.allow(kAll, {"openat", "open", "close", "read", "pread64", "readlink", "readlinkat", "lseek", "fstat",
                            "newfstatat", "stat", "getdents64", "sigaltstack", "rt_sigaction", "prctl", "ptrace",
                            "wait4", "waitid", "clone", "execve", "pipe2", "dup2", "dup3", "kill", "getppid",
                            "sched_getaffinity", "getrlimit", "prlimit64", "uname", "mincore", "set_robust_list",
                            "rseq", "process_vm_readv"});
        policy.allow_executable_mappings();
    }
    return policy;
}

} // namespace minivmm::vmm
