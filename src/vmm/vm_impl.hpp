// The parts of a running VM, owned in one place. Built by build_vm() (vm_builder.cpp),
// run and torn down by Vm (vm.cpp). Member order is destruction order in reverse: threads
// are stopped and joined explicitly before anything they use is destroyed.
#pragma once

#include "devices/bus.hpp"
#include "memory/guest_memory.hpp"
#include "vcpu/vcpu.hpp"
#include "console/guest_console.hpp"
#include "util/event_loop.hpp"
#include "vmm/exit_latch.hpp"
#include "kvm/kvm.hpp"
#include "vmm/virtio_slot.hpp"
#include "util/seccomp_filter.hpp"

#include <minivmm/vm.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace minivmm {

namespace devices {
class Serial8250;
}

struct Vm::Impl {
    Impl(const VmConfig& cfg, kvm::Kvm k, kvm::VmFd v, memory::GuestMemory mem)
        : config(cfg), kvm(std::move(k)), vm(std::move(v)), memory(std::move(mem))
    {
    }
    ~Impl();

    void start();
    // Called from any thread when the run must end: records why (first caller wins) and
    // kicks every vCPU and the I/O thread.
    void request_exit(ExitStatus status);
    // Stops and joins every thread, then quiesces the devices; idempotent. Only the
    // owner (Vm) calls it.
    void shut_down();
    // Makes device data durable once no thread runs any more: VirtioDevice::quiesce() of
    // every virtio device (a disk flushes). Records in `data_loss` what failed.
    void quiesce_devices();
    // The calling thread (of `kind`) takes its seccomp allow-list, when the VM has seccomp on.
    void confine(util::ThreadKind kind) const;
    // How the run ended, `status` unless a device could not make the guest's data durable:
    // then a HostFailure (125) that says so and what the run had ended with.
    [[nodiscard]] ExitStatus final_status(const ExitStatus& status) const;

    VmConfig config;
    std::chrono::steady_clock::time_point created_at = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point started_at = created_at;
    std::atomic<int64_t> boot_time_us{-1};

    util::SeccompPolicy seccomp; // the allow-lists, when config.seccomp; complete once built
    kvm::Kvm kvm;
    kvm::VmFd vm;
    memory::GuestMemory memory;
    // Before the buses: virtio transports on the MMIO bus unwatch their fds when destroyed.
    util::EventLoop events;
    devices::Bus pio{"PIO"};
    devices::Bus mmio{"MMIO"};
    std::unique_ptr<console::GuestConsole> console;
    std::shared_ptr<devices::Serial8250> serial;
    std::vector<std::unique_ptr<vmm::VirtioSlot>> virtio; // virtio-mmio device n at index n
    std::vector<std::unique_ptr<vcpu::Vcpu>> vcpus;
    vmm::ExitLatch exit;

    std::mutex threads_mutex; // orders kicks against teardown
    bool started = false;
    bool torn_down = false;
    std::vector<std::string> data_loss; // quiesce_devices(): why guest data may not be durable
    std::thread io_thread;
};

// Builds a VM from a configuration (validates it first). Throws minivmm::Error.
[[nodiscard]] std::unique_ptr<Vm::Impl> build_vm(const VmConfig& config);

} // namespace minivmm
