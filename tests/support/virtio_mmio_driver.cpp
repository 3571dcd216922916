#include "support/virtio_mmio_driver.hpp"

#include "arch/x86_64/guest_ram.hpp"
#include "devices/virtio/mmio_registers.hpp"
#include "support/support_check.hpp"

#include <array>
#include <cstring>

namespace minivmm::test {

void CountingTrigger::trigger()
{
    {
        const std::lock_guard lock(mutex_);
        ++count;
    }
    changed_.notify_all();
}

bool CountingTrigger::wait_for_change(int seen, std::chrono::microseconds timeout)
{
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return count != seen; });
}

MmioDriver::MmioDriver(const DeviceFactory& make_device, uint64_t ram, uint64_t ring_base)
    : memory(arch::create_guest_ram(ram)), irq(std::make_shared<CountingTrigger>()),
      transport(memory, make_device(memory), irq, poller, [this](unsigned q) { notified.push_back(q); }),
      ring_base_(ring_base)
{
}

uint32_t MmioDriver::reg(uint64_t offset)
{
    uint32_t value = 0;
    std::array<uint8_t, 4> bytes{};
    transport.read(offset, bytes);
    std::memcpy(&value, bytes.data(), 4);
    return value;
}

void MmioDriver::set(uint64_t offset, uint32_t value)
{
    std::array<uint8_t, 4> bytes{};
    std::memcpy(bytes.data(), &value, 4);
    transport.write(offset, bytes);
}

uint64_t MmioDriver::device_features()
{
    set(virtio::mmio::kDeviceFeaturesSel, 0);
    const uint64_t low = reg(virtio::mmio::kDeviceFeatures);
    set(virtio::mmio::kDeviceFeaturesSel, 1);
    return low | (uint64_t{reg(virtio::mmio::kDeviceFeatures)} << 32);
}

bool MmioDriver::negotiate(uint64_t features)
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

void MmioDriver::setup_queue(uint32_t index, uint16_t size)
{
    using namespace virtio::mmio;
    const uint64_t base = ring_addr(index, ring_base_);
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

void MmioDriver::driver_ok()
{
    using namespace virtio::mmio;
    set(kStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
}

void MmioDriver::bring_up(unsigned queues, uint16_t size, uint64_t extra)
{
    support_check(negotiate(virtio::kFVersion1 | extra), "the device refused the features of bring_up()");
    for (unsigned q = 0; q < queues; ++q) {
        setup_queue(q, size);
    }
    driver_ok();
}

void MmioDriver::handshake(uint64_t features, uint16_t size)
{
    (void)negotiate(virtio::kFVersion1 | features);
    for (unsigned q = 0; q < transport.queue_count(); ++q) {
        setup_queue(q, size);
    }
    driver_ok();
}

void MmioDriver::desc(uint32_t queue, uint16_t index, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    memory.write_obj(memory::GuestAddress{ring_addr(queue, ring_base_) + index * 16ULL},
                     virtio_desc{addr, len, flags, next});
}

void MmioDriver::offer(uint32_t queue, uint16_t head)
{
    const uint64_t avail = ring_addr(queue, ring_base_) + 0x1000;
    uint16_t& idx = avail_idx[queue];
    memory.write_obj(memory::GuestAddress{avail + 4 + (idx % sizes[queue]) * 2ULL}, head);
    ++idx;
    memory.write_obj(memory::GuestAddress{avail + 2}, idx);
}

uint16_t MmioDriver::used_idx(uint32_t queue)
{
    return memory.read_obj<uint16_t>(memory::GuestAddress{ring_addr(queue, ring_base_) + 0x2000 + 2});
}

uint32_t MmioDriver::used_len(uint32_t queue, uint16_t slot)
{
    return memory.read_obj<uint32_t>(
        memory::GuestAddress{ring_addr(queue, ring_base_) + 0x2000 + 4 + (slot % sizes[queue]) * 8ULL + 4});
}

void MmioDriver::kick(uint32_t queue)
{
    set(virtio::mmio::kQueueNotify, queue);
    run_io();
}

void MmioDriver::run_io()
{
    const auto pending = std::move(notified);
    notified.clear();
    for (const unsigned q : pending) {
        transport.process_notify(q);
    }
    poller.run_ready();
}

} // namespace minivmm::test
