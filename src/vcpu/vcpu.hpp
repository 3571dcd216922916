// One vCPU: a thread running KVM_RUN and dispatching exits to the PIO and MMIO buses.
// Stopping sets kvm_run.immediate_exit and sends a signal to the thread, so a vCPU inside
// KVM_RUN returns at once and one about to enter it does not enter; nothing busy-waits.
#pragma once

#include "devices/bus.hpp"
#include "memory/guest_memory.hpp"
#include "vcpu/vcpu_exit.hpp"
#include "kvm/vcpu_fd.hpp"

#include <minivmm/exit_status.hpp>

#include <pthread.h>

#include <atomic>
#include <functional>
#include <thread>

namespace minivmm::vcpu {

class Vcpu final {
public:
    using ExitRequest = std::function<void(ExitStatus)>;

    Vcpu(unsigned index, kvm::VcpuFd fd, const devices::Bus& pio, const devices::Bus& mmio, const memory::GuestMemory& memory,
         ExitRequest request_exit);
    Vcpu(const Vcpu&) = delete;
    Vcpu& operator=(const Vcpu&) = delete;
    ~Vcpu();

    [[nodiscard]] const kvm::VcpuFd& fd() const { return fd_; }
    [[nodiscard]] unsigned index() const { return index_; }

    void start();
    // Asks the thread to leave KVM_RUN and end; idempotent. Called by the owner of the
    // Vcpu (never concurrently with join()).
    void stop();
    void join();

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
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

} // namespace minivmm::vcpu
