// seccomp-bpf allow-lists, one per kind of minivmm thread (docs/architecture.md "Seccomp").
// Each thread installs the list of its kind on itself when it starts (a filter belongs to the
// thread that loads it and to the threads it creates afterwards). A system call not on the
// list traps: the SIGSYS handler writes one line naming the call and the kind of thread, and
// the process exits with 125 (exit_code::kVmmFailure). Loading a filter also sets
// PR_SET_NO_NEW_PRIVS on the thread.
//
// The lists are built in one place, vmm/seccomp_lists.cpp (what every thread of a kind
// needs), and added to by each device or back end that is configured, through
// VirtioDevice::add_syscalls() (what its code calls, on whichever thread runs it). A feature
// that needs a new system call adds it to its own add_syscalls(), nowhere else.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <set>
#include <string>
#include <string_view>

namespace minivmm::util {

enum class ThreadKind : uint8_t {
    Main,  // the thread that waits for the VM and tears it down (the minivmm command's main thread)
    Vcpu,  // a vCPU: KVM_RUN and the exits it dispatches to devices
    Io,    // the I/O thread: the event loop, device queues, back ends, console
    Timer, // the CMOS RTC's timer thread
};
inline constexpr std::size_t kThreadKinds = 4;

[[nodiscard]] std::string_view to_string(ThreadKind kind);

// Where device code runs: vCPU threads (register accesses, activation, reset), the I/O
// thread (queues and back ends) and the main thread (teardown: reset, quiesce, destruction).
inline constexpr std::array<ThreadKind, 3> kDeviceThreads{ThreadKind::Vcpu, ThreadKind::Io, ThreadKind::Main};

class SeccompPolicy final {
public:
    // Adds system calls (by name, as in <asm/unistd.h> without __NR_) to the lists of `kinds`.
    void allow(std::initializer_list<ThreadKind> kinds, std::initializer_list<std::string_view> syscalls);
    void allow(const std::array<ThreadKind, 3>& kinds, std::initializer_list<std::string_view> syscalls);
    // Lets threads of `kind` create threads: clone with CLONE_THREAD only (never a process);
    // clone3, whose flags a filter cannot see, fails with ENOSYS and glibc falls back to clone.
    // Elsewhere creating a thread fails with EPERM (glibc blocks every signal around clone,
    // so a trap could not be reported), and creating a process traps.
    void allow_thread_creation(ThreadKind kind);
    // openat for reading only (no write access, O_CREAT, O_TRUNC, O_APPEND or O_TMPFILE), for
    // threads of `kinds` that must read a file while the VM runs (libslirp rereads the host's
    // /etc/resolv.conf to forward DNS).
    void allow_read_only_open(std::initializer_list<ThreadKind> kinds);
    void allow_read_only_open(const std::array<ThreadKind, 3>& kinds);
    // mmap and mprotect are allowed without PROT_EXEC only, unless this was called (the
    // sanitizer builds, whose symbolizer is a program of its own).
    void allow_executable_mappings() { executable_mappings_ = true; }

    [[nodiscard]] const std::set<std::string>& allowed(ThreadKind kind) const;
    [[nodiscard]] bool creates_threads(ThreadKind kind) const;
    [[nodiscard]] bool executable_mappings() const { return executable_mappings_; }
    [[nodiscard]] bool opens_read_only(ThreadKind kind) const;

private:
    std::array<std::set<std::string>, kThreadKinds> lists_;
    std::array<bool, kThreadKinds> thread_creation_{};
    std::array<bool, kThreadKinds> read_only_open_{};
    bool executable_mappings_ = false;
};

// Whether the kernel can load seccomp filters (and libseccomp can use them).
[[nodiscard]] bool seccomp_available();

// Installs `policy`'s list for `kind` on the calling thread, for good. Throws HostError
// naming an unknown system call or a kernel that refuses the filter.
void install_seccomp_filter(const SeccompPolicy& policy, ThreadKind kind);

} // namespace minivmm::util
