// One vCPU: a thread running KVM_RUN and dispatching exits to the PIO and MMIO buses.
// Stopping sets kvm_run.immediate_exit and sends a signal to the thread, so a vCPU inside
// KVM_RUN returns at once and one about to enter it does not enter; nothing busy-waits.
#pragma once

#include "devices/bus.hpp"
#include "memory/guest_memory.hpp"
#include "vcpu/vcpu_exit.hpp"
#include "vcpu/vcpu_fd.hpp"

#include <minivmm/exit_status.hpp>

#include <pthread.h>

#include <atomic>
#include <functional>
#include <thread>

namespace minivmm {

class Vcpu final {
public:
    using ExitRequest = std::function<void(ExitStatus)>;

    Vcpu(unsigned index, VcpuFd fd, const Bus& pio, const Bus& mmio, const GuestMemory& memory,
         ExitRequest request_exit);
    Vcpu(const Vcpu&) = delete;
    Vcpu& operator=(const Vcpu&) = delete;
    ~Vcpu();

    [[nodiscard]] const VcpuFd& fd() const { return fd_; }
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
    VcpuFd fd_;
    const Bus& pio_;
    const Bus& mmio_;
    const GuestMemory& memory_;
    ExitRequest request_exit_;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

} // namespace minivmm
