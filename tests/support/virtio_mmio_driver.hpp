// Test doubles for the virtio-mmio transport: a poller that runs handlers on demand, an
// interrupt counter, and a driver that programs the register file as Linux's
// virtio_mmio.c does (virtio 1.2 section 4.2.3), with its rings in heap-backed RAM.
#pragma once

#include "util/fd_poller.hpp"
#include "arch/x86_64/guest_ram.hpp"
#include "devices/interrupt_trigger.hpp"
#include "devices/virtio/mmio_registers.hpp"
#include "devices/virtio/mmio_transport.hpp"

#include <minivmm/vm_config.hpp>

#include <catch2/catch.hpp>

#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace minivmm::test {

class FakePoller final : public util::FdPoller {
public:
    struct Watch {
        uint32_t events = 0;
        Handler handler;
    };

    bool add(int fd, uint32_t events, Handler handler) override
    {
        watches[fd] = Watch{events, std::move(handler)};
        return true;
    }
    bool modify(int fd, uint32_t events) override
    {
        const auto it = watches.find(fd);
        if (it == watches.end()) {
            return false;
        }
        it->second.events = events;
        return true;
    }
    void remove(int fd) override { watches.erase(fd); }
    // Runs every handler whose fd is ready now for the events it watches, or has an error or
    // hang-up (which epoll always reports), like one level-triggered epoll_wait with zero
    // timeout. Returns how many handlers ran.
    int run_ready()
    {
        int ran = 0;
        auto copy = watches;
        for (auto& [fd, watch] : copy) {
            if (const uint32_t ready = ready_events(fd, watch.events); ready != 0) {
                watch.handler(ready);
                ++ran;
            }
        }
        return ran;
    }
    // The events `fd` is watched for (nullopt: not watched).
    std::optional<uint32_t> events(int fd) const
    {
        const auto it = watches.find(fd);
        return it == watches.end() ? std::nullopt : std::optional<uint32_t>(it->second.events);
    }
    std::map<int, Watch> watches;

private:
    static uint32_t ready_events(int fd, uint32_t events);
};

class CountingTrigger final : public devices::InterruptTrigger {
public:
    void trigger() override { ++count; }
    int count = 0;
};

// Drives one transport; queue rings are laid out from `ring_base` on, 0x4000 per queue.
class MmioDriver {
public:
    static constexpr uint64_t kRingBase = 0x10'0000;
    static constexpr uint64_t kRingStride = 0x4000;

    using DeviceFactory = std::function<std::unique_ptr<virtio::VirtioDevice>(memory::GuestMemory&)>;

    explicit MmioDriver(const DeviceFactory& make_device, uint64_t ram = 16 * kMiB)
        : memory(arch::create_guest_ram(ram)), irq(std::make_shared<CountingTrigger>()),
          transport(memory, make_device(memory), irq, poller, [this](unsigned q) { notified.push_back(q); })
    {
    }

    uint32_t reg(uint64_t offset)
    {
        uint32_t value = 0;
        std::array<uint8_t, 4> bytes{};
        transport.read(offset, bytes);
        std::memcpy(&value, bytes.data(), 4);
        return value;
    }
    void set(uint64_t offset, uint32_t value)
    {
        std::array<uint8_t, 4> bytes{};
        std::memcpy(bytes.data(), &value, 4);
        transport.write(offset, bytes);
    }
    uint64_t device_features()
    {
        set(virtio::mmio::kDeviceFeaturesSel, 0);
        const uint64_t low = reg(virtio::mmio::kDeviceFeatures);
        set(virtio::mmio::kDeviceFeaturesSel, 1);
        return low | (uint64_t{reg(virtio::mmio::kDeviceFeatures)} << 32);
    }
    // Reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK; returns whether FEATURES_OK stuck.
    bool negotiate(uint64_t features)
    {
        using namespace virtio::mmio;
        set(kStatus, 0);
        set(kStatus, kStatusAcknowledge);
        set(kStatus, kStatusAcknowledge | kStatusDriver);
        set(kDriverFeaturesSel, 0);
        set(kDriverFeatures, static_cast<uint32_t>(features));
        set(kDriverFeaturesSel, 1);
        set(kDriverFeatures, static_cast<uint32_t>(features >> 32));
        set(kStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
        return (reg(kStatus) & kStatusFeaturesOk) != 0;
    }
    void setup_queue(uint32_t index, uint16_t size)
    {
        using namespace virtio::mmio;
        const uint64_t base = ring_addr(index);
        set(kQueueSel, index);
        set(kQueueNum, size);
        set(kQueueDescLow, static_cast<uint32_t>(base));
        set(kQueueDescHigh, static_cast<uint32_t>(base >> 32));
        set(kQueueDriverLow, static_cast<uint32_t>(base + 0x1000));
        set(kQueueDriverHigh, 0);
        set(kQueueDeviceLow, static_cast<uint32_t>(base + 0x2000));
        set(kQueueDeviceHigh, 0);
        set(kQueueReady, 1);
        sizes[index] = size;
    }
    void driver_ok()
    {
        using namespace virtio::mmio;
        set(kStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
    }
    // The whole handshake with VERSION_1 (+ `extra`), queues of `size`, DRIVER_OK.
    void bring_up(unsigned queues, uint16_t size = 16, uint64_t extra = 0)
    {
        REQUIRE(negotiate(virtio::kFVersion1 | extra));
        for (unsigned q = 0; q < queues; ++q) {
            setup_queue(q, size);
        }
        driver_ok();
    }

    static uint64_t ring_addr(uint32_t queue) { return kRingBase + queue * kRingStride; }
    // Descriptor `index` of queue `queue`; offer(head) publishes a chain head.
    void desc(uint32_t queue, uint16_t index, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next = 0)
    {
        memory.write_obj(memory::GuestAddress{ring_addr(queue) + index * 16ULL}, virtio_desc{addr, len, flags, next});
    }
    void offer(uint32_t queue, uint16_t head)
    {
        const uint64_t avail = ring_addr(queue) + 0x1000;
        uint16_t& idx = avail_idx[queue];
        memory.write_obj(memory::GuestAddress{avail + 4 + (idx % sizes[queue]) * 2ULL}, head);
        ++idx;
        memory.write_obj(memory::GuestAddress{avail + 2}, idx);
    }
    uint16_t used_idx(uint32_t queue)
    {
        return memory.read_obj<uint16_t>(memory::GuestAddress{ring_addr(queue) + 0x2000 + 2});
    }
    uint32_t used_len(uint32_t queue, uint16_t slot)
    {
        return memory.read_obj<uint32_t>(
            memory::GuestAddress{ring_addr(queue) + 0x2000 + 4 + (slot % sizes[queue]) * 8ULL + 4});
    }
    // Notify as the guest would, and run the I/O thread's part.
    void kick(uint32_t queue)
    {
        set(virtio::mmio::kQueueNotify, queue);
        for (const unsigned q : notified) {
            transport.process_notify(q);
        }
        notified.clear();
        poller.run_ready();
    }

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
};

} // namespace minivmm::test
