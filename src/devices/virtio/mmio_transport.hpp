// The virtio-mmio transport, version 2 (virtio 1.2 section 4.2): the register file a
// driver programs, the status handshake of section 3.1.1 with feature negotiation and
// device reset, and the bridge between a VirtioDevice and the VMM (interrupts, queue
// notifications, host fds). No KVM here: notifications leave through `NotifyHook` and
// interrupts through an InterruptTrigger, so the whole transport runs in unit tests.
//
// Threads: register accesses come from vCPU threads; queue notifications and host-fd
// events are handled on the I/O thread (process_notify, watch handlers). One mutex
// serialises every call into the device. InterruptStatus reads and InterruptACK writes
// are lock-free, so a guest's interrupt handler never waits for a device that is busy.
//
// Host memory a guest can make it hold: none beyond its fixed state (one VirtQueue per queue,
// made at construction; register writes only change values); the device behind it has its
// own bound (kMaxBytesHeld of each device); log lines are rate-limited (util::GuestLog).
#pragma once

#include "devices/bus_device.hpp"
#include "util/fd_poller.hpp"
#include "devices/interrupt_trigger.hpp"
#include "devices/virtio/mmio_registers.hpp"
#include "devices/virtio/virtio_device.hpp"
#include "devices/virtio/virtqueue.hpp"
#include "memory/guest_memory.hpp"
#include "util/guest_log.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace minivmm::virtio {

class MmioTransport final : public devices::BusDevice, private VirtioContext {
public:
    // Called (on a vCPU thread, without the lock) when the driver writes QueueNotify for a
    // valid queue; the VMM hands it to the I/O thread, which calls process_notify(). With
    // KVM_IOEVENTFD on the notify register the write never reaches the transport at all.
    using NotifyHook = std::function<void(unsigned queue)>;

    MmioTransport(memory::GuestMemory& memory, std::unique_ptr<VirtioDevice> device,
                  std::shared_ptr<devices::InterruptTrigger> irq, util::FdPoller& poller, NotifyHook notify);
    ~MmioTransport() override;
    MmioTransport(const MmioTransport&) = delete;
    MmioTransport& operator=(const MmioTransport&) = delete;

    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<const uint8_t> data) override;

    // The driver notified `queue` (I/O thread).
    void process_notify(unsigned queue);
    // VM shutdown: let the device make its data durable.
    [[nodiscard]] std::optional<std::string> quiesce();

    [[nodiscard]] std::string name() const { return name_; }
    [[nodiscard]] unsigned queue_count() const { return static_cast<unsigned>(queues_.size()); }
    [[nodiscard]] uint32_t status() const;
    [[nodiscard]] bool needs_reset() const;

private:
    // VirtioContext (called from inside the device, lock held).
    void notify_used(unsigned queue) override;
    void config_changed() override;
    void device_error(std::string_view why) override;
    [[nodiscard]] bool watch(int fd, uint32_t events, util::FdPoller::Handler handler) override;
    [[nodiscard]] bool modify_watch(int fd, uint32_t events) override;
    void unwatch(int fd) override;

    [[nodiscard]] uint32_t read_register(uint64_t offset);
    void write_register(uint64_t offset, uint32_t value);
    void write_status(uint32_t value);
    void reset_locked();
    void activate_locked();
    [[nodiscard]] bool driver_ok() const
    {
        return (status_ & mmio::kStatusDriverOk) != 0 && (status_ & mmio::kStatusNeedsReset) == 0;
    }
    [[nodiscard]] VirtQueue* selected_queue();
    // After every call into the device: queue protocol errors -> DEVICE_NEEDS_RESET, and a
    // device that entered NEEDS_RESET is stopped (reset) so it touches the rings no more.
    void after_device_call();
    void raise(uint32_t interrupt_bits);

    std::unique_ptr<VirtioDevice> device_;
    std::shared_ptr<devices::InterruptTrigger> irq_;
    util::FdPoller& poller_;
    NotifyHook notify_;
    std::string name_;
    util::GuestLog log_; // every line a driver can provoke
    uint64_t offered_features_ = 0;

    mutable std::mutex mutex_;
    std::vector<VirtQueue> queues_;
    uint32_t status_ = 0;
    uint32_t device_features_sel_ = 0;
    uint32_t driver_features_sel_ = 0;
    uint64_t driver_features_ = 0;
    uint32_t queue_sel_ = 0;
    uint32_t config_generation_ = 0;
    bool activated_ = false;
    std::vector<int> watched_fds_;
    std::atomic<uint32_t> interrupt_status_{0};
};

} // namespace minivmm::virtio
