// Test doubles for the virtio-mmio transport, shared by the unit tests and the fuzz
// targets: an interrupt counter, and a driver that programs the register file as Linux's
// virtio_mmio.c does (virtio 1.2 section 4.2.3), with its rings in guest RAM of its own and
// a FakePoller standing in for the I/O thread.
#pragma once

#include "devices/interrupt_trigger.hpp"
#include "devices/virtio/mmio_transport.hpp"
#include "memory/guest_memory.hpp"
#include "support/fake_poller.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace minivmm::test {

// Counts the interrupts; a device's worker threads may raise them while a test waits for one.
class CountingTrigger final : public devices::InterruptTrigger {
public:
    void trigger() override;
    // Waits until `count` is no longer `seen`, at most `timeout`; true if it changed.
    bool wait_for_change(int seen, std::chrono::microseconds timeout);

    std::atomic<int> count{0};

private:
    std::mutex mutex_;
    std::condition_variable changed_;
};

// Drives one transport; queue q's rings are at ring_addr(q): descriptors, then the avail
// ring 0x1000 and the used ring 0x2000 above them.
class MmioDriver {
public:
    static constexpr uint64_t kRingBase = 0x10'0000;
    static constexpr uint64_t kRingStride = 0x4000;
    static constexpr uint64_t kDefaultRam = 16ULL << 20;

    using DeviceFactory = std::function<std::unique_ptr<virtio::VirtioDevice>(memory::GuestMemory&)>;

    explicit MmioDriver(const DeviceFactory& make_device, uint64_t ram = kDefaultRam, uint64_t ring_base = kRingBase);

    uint32_t reg(uint64_t offset);
    void set(uint64_t offset, uint32_t value);
    uint64_t device_features();
    // Reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK; returns whether FEATURES_OK stuck.
    bool negotiate(uint64_t features);
    void setup_queue(uint32_t index, uint16_t size);
    void driver_ok();
    // The whole handshake with VERSION_1 (+ `extra`), queues of `size`, DRIVER_OK;
    // SupportError if the device refuses the features.
    void bring_up(unsigned queues, uint16_t size = 16, uint64_t extra = 0);
    // As bring_up with every queue the transport has, whether or not the device accepts
    // `features` (a hostile driver carries on regardless).
    void handshake(uint64_t features, uint16_t size = 16);

    static uint64_t ring_addr(uint32_t queue, uint64_t ring_base = kRingBase) { return ring_base + queue * kRingStride; }
    // Descriptor `index` of queue `queue`; offer(head) publishes a chain head.
    void desc(uint32_t queue, uint16_t index, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next = 0);
    void offer(uint32_t queue, uint16_t head);
    uint16_t used_idx(uint32_t queue);
    uint32_t used_len(uint32_t queue, uint16_t slot);
    // Notify as the guest would, and run the I/O thread's part.
    void kick(uint32_t queue);
    // The I/O thread's part of notifications the transport signalled, then ready fds.
    void run_io();

    struct virtio_desc {
        uint64_t addr;
        uint32_t len;
        uint16_t flags;
        uint16_t next;
    };

    memory::GuestMemory memory;
    FakePoller poller;
    std::shared_ptr<CountingTrigger> irq;
    std::vector<unsigned> notified;
    std::map<uint32_t, uint16_t> avail_idx;
    std::map<uint32_t, uint16_t> sizes;
    virtio::MmioTransport transport;

private:
    uint64_t ring_base_;
};

} // namespace minivmm::test
