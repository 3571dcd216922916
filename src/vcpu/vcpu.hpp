// One vCPU: a thread running KVM_RUN and dispatching exits to the PIO and MMIO buses.
// Stopping sets kvm_run.immediate_exit and sends a signal to the thread, so a vCPU inside
// KVM_RUN returns at once and one about to enter it does not enter; nothing busy-waits.
#pragma once

#include "devices/bus.hpp"
#include "memory/guest_memory.hpp"
#include "vcpu/vcpu_exit.hpp"
#include "kvm/vcpu_fd.hpp"
#include "util/guest_log.hpp"

#include <pthread.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace minivmm::vcpu {

// Why a vCPU asks for the run to end. What each means for the run (exit code, reason) is
// decided above the vCPU, in one place: vmm/exit_policy.hpp.
struct VcpuStop {
    enum class Kind {
        PowerOff,      // KVM_SYSTEM_EVENT_SHUTDOWN
        Reboot,        // KVM_SYSTEM_EVENT_RESET
        GuestCrash,    // KVM_SYSTEM_EVENT_CRASH
        TripleFault,   // KVM_EXIT_SHUTDOWN
        EntryFailure,  // KVM_EXIT_FAIL_ENTRY
        InternalError, // KVM_EXIT_INTERNAL_ERROR (emulation failure and the like)
        HostFailure,   // an unexpected exit, or a failed ioctl on this side
    };
    Kind kind;
    std::string detail;
};

class Vcpu final {
public:
    using ExitRequest = std::function<void(VcpuStop)>;

    Vcpu(unsigned index, kvm::VcpuFd fd, const devices::Bus& pio, const devices::Bus& mmio,
         const memory::GuestMemory& memory, ExitRequest request_exit);
    Vcpu(const Vcpu&) = delete;
    Vcpu& operator=(const Vcpu&) = delete;
    ~Vcpu();

    [[nodiscard]] const kvm::VcpuFd& fd() const { return fd_; }
    [[nodiscard]] unsigned index() const { return index_; }

    // Starts the thread; it runs `on_start` first (its seccomp filter), and an exception from
    // it ends the run as a host failure.
    void start(std::function<void()> on_start = {});
    // Asks the thread to leave KVM_RUN and end; idempotent. Called by the owner of the
    // Vcpu (never concurrently with join()).
    void stop();
    void join();

    // The run loop's body after KVM_RUN: decodes the exit left in kvm_run and dispatches it to
    // the buses; false when the vCPU should stop (its stop reason reported). Public for the
    // fuzz target, which writes kvm_run itself.
    [[nodiscard]] bool dispatch_exit() { return handle(decode_exit(fd_)); }

private:
    void run_loop();
    // Returns false when the vCPU should stop.
    bool handle(const VcpuExit& exit);
    [[nodiscard]] std::string describe_state() const;
    [[nodiscard]] std::string instruction_bytes_at_rip() const;

    unsigned index_;
    kvm::VcpuFd fd_;
    const devices::Bus& pio_;
    const devices::Bus& mmio_;
    const memory::GuestMemory& memory_;
    ExitRequest request_exit_;
    util::GuestLog log_;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

} // namespace minivmm::vcpu
