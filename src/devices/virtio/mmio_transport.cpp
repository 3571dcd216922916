#include "devices/virtio/mmio_transport.hpp"

#include "devices/virtio/mmio_registers.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

namespace minivmm::virtio {

using namespace mmio;

namespace {

[[nodiscard]] uint64_t set_low(uint64_t old, uint32_t low) { return (old & ~0xffff'ffffULL) | low; }
[[nodiscard]] uint64_t set_high(uint64_t old, uint32_t high) { return (old & 0xffff'ffffULL) | (uint64_t{high} << 32); }

} // namespace

MmioTransport::MmioTransport(memory::GuestMemory& memory, std::unique_ptr<VirtioDevice> device,
                             std::shared_ptr<devices::InterruptTrigger> irq, util::FdPoller& poller, NotifyHook notify)
    : device_(std::move(device)), irq_(std::move(irq)), poller_(poller), notify_(std::move(notify)),
      name_(device_->name()), log_(name_), offered_features_(device_->device_features() | kTransportFeatures)
{
    const auto sizes = device_->queue_max_sizes();
    queues_.reserve(sizes.size());
    for (const uint16_t size : sizes) {
        queues_.emplace_back(memory, size);
    }
    std::lock_guard lock(mutex_);
    device_->attach(*this);
}

MmioTransport::~MmioTransport()
{
    std::lock_guard lock(mutex_);
    if (activated_) {
        device_->reset();
        activated_ = false;
    }
    for (const int fd : watched_fds_) {
        poller_.remove(fd);
    }
    watched_fds_.clear();
}

uint32_t MmioTransport::status() const
{
    std::lock_guard lock(mutex_);
    return status_;
}

bool MmioTransport::needs_reset() const { return (status() & kStatusNeedsReset) != 0; }

void MmioTransport::read(uint64_t offset, std::span<uint8_t> data)
{
    if (offset >= kConfig) {
        std::lock_guard lock(mutex_);
        device_->read_config(offset - kConfig, data);
        return;
    }
    // 4.2.2.2: the driver uses only 32-bit wide, aligned accesses for the registers.
    if (data.size() != 4 || offset % 4 != 0) {
        log_.debug("ignored {}-byte read at register offset {:#x}", data.size(), offset);
        return;
    }
    uint32_t value = 0;
    if (offset == kInterruptStatus) {
        value = interrupt_status_.load();
    } else {
        std::lock_guard lock(mutex_);
        value = read_register(offset);
    }
    std::memcpy(data.data(), &value, sizeof(value));
}

void MmioTransport::write(uint64_t offset, std::span<const uint8_t> data)
{
    if (offset >= kConfig) {
        // Forwarded in any state: virtio-console's emergency write works before set-up (5.3.6.1).
        std::lock_guard lock(mutex_);
        device_->write_config(offset - kConfig, data);
        return;
    }
    if (data.size() != 4 || offset % 4 != 0) {
        log_.debug("ignored {}-byte write at register offset {:#x}", data.size(), offset);
        return;
    }
    uint32_t value = 0;
    std::memcpy(&value, data.data(), sizeof(value));
    if (offset == kInterruptAck) {
        interrupt_status_.fetch_and(~value);
        return;
    }
    if (offset == kQueueNotify) {
        // No lock: the hook only hands the index to the I/O thread, which checks the state.
        if (value < queues_.size()) {
            notify_(value);
        }
        return;
    }
    std::lock_guard lock(mutex_);
    write_register(offset, value);
}

uint32_t MmioTransport::read_register(uint64_t offset)
{
    const VirtQueue* queue = selected_queue();
    switch (offset) {
    case kMagicValue:
        return kMagic;
    case kVersionReg:
        return kVersion;
    case kDeviceId:
        return device_->device_id();
    case kVendorIdReg:
        return kVendorId;
    case kDeviceFeatures:
        return device_features_sel_ == 0   ? static_cast<uint32_t>(offered_features_)
               : device_features_sel_ == 1 ? static_cast<uint32_t>(offered_features_ >> 32)
                                           : 0;
    case kQueueNumMax:
        return queue ? queue->max_size() : 0;
    case kQueueReady:
        return queue && queue->ready() ? 1 : 0;
    case kStatus:
        return status_;
    case kQueueDescLow:
        return queue ? static_cast<uint32_t>(queue->desc_addr().value()) : 0;
    case kQueueDescHigh:
        return queue ? static_cast<uint32_t>(queue->desc_addr().value() >> 32) : 0;
    case kQueueDriverLow:
        return queue ? static_cast<uint32_t>(queue->avail_addr().value()) : 0;
    case kQueueDriverHigh:
        return queue ? static_cast<uint32_t>(queue->avail_addr().value() >> 32) : 0;
    case kQueueDeviceLow:
        return queue ? static_cast<uint32_t>(queue->used_addr().value()) : 0;
    case kQueueDeviceHigh:
        return queue ? static_cast<uint32_t>(queue->used_addr().value() >> 32) : 0;
    case kShmLenLow:
    case kShmLenHigh:
        return 0xffff'ffff; // 4.2.2: no shared memory region with this ID
    case kConfigGeneration:
        return config_generation_;
    default:
        log_.debug("read of write-only or unknown register {:#x}", offset);
        return 0;
    }
}

void MmioTransport::write_register(uint64_t offset, uint32_t value)
{
    // 3.1.1: features only between DRIVER and FEATURES_OK; queues only before DRIVER_OK.
    const bool negotiating = (status_ & kStatusDriver) != 0 && (status_ & kStatusFeaturesOk) == 0;
    const bool configuring_queues = (status_ & kStatusFeaturesOk) != 0 && (status_ & kStatusDriverOk) == 0;
    VirtQueue* queue = selected_queue();
    switch (offset) {
    case kDeviceFeaturesSel:
        device_features_sel_ = value;
        return;
    case kDriverFeaturesSel:
        driver_features_sel_ = value;
        return;
    case kDriverFeatures:
        if (!negotiating) {
            log_.debug("DriverFeatures written outside feature negotiation (status {:#x})", status_);
        } else if (driver_features_sel_ == 0) {
            driver_features_ = set_low(driver_features_, value);
        } else if (driver_features_sel_ == 1) {
            driver_features_ = set_high(driver_features_, value);
        }
        return;
    case kQueueSel:
        queue_sel_ = value;
        return;
    case kStatus:
        write_status(value);
        return;
    case kShmSel:
        return;
    default:
        break;
    }
    if (queue == nullptr) {
        log_.debug("write {:#x} to register {:#x} with no valid queue selected", value, offset);
        return;
    }
    if (offset == kQueueReady) {
        // Clearing QueueReady is how a driver tears a queue down; setting it is set-up.
        if (value == 0) {
            queue->set_ready(false);
        } else if (configuring_queues) {
            queue->set_ready(true);
        }
        return;
    }
    if (!configuring_queues || queue->ready()) {
        log_.debug("queue register {:#x} written outside queue set-up (status {:#x})", offset, status_);
        return;
    }
    switch (offset) {
    case kQueueNum:
        if (value > 0xffff || !queue->set_size(static_cast<uint16_t>(value))) {
            log_.debug("queue {} size {} refused (max {})", queue_sel_, value, queue->max_size());
        }
        return;
    case kQueueDescLow:
        queue->set_desc_addr(memory::GuestAddress{set_low(queue->desc_addr().value(), value)});
        return;
    case kQueueDescHigh:
        queue->set_desc_addr(memory::GuestAddress{set_high(queue->desc_addr().value(), value)});
        return;
    case kQueueDriverLow:
        queue->set_avail_addr(memory::GuestAddress{set_low(queue->avail_addr().value(), value)});
        return;
    case kQueueDriverHigh:
        queue->set_avail_addr(memory::GuestAddress{set_high(queue->avail_addr().value(), value)});
        return;
    case kQueueDeviceLow:
        queue->set_used_addr(memory::GuestAddress{set_low(queue->used_addr().value(), value)});
        return;
    case kQueueDeviceHigh:
        queue->set_used_addr(memory::GuestAddress{set_high(queue->used_addr().value(), value)});
        return;
    default:
        log_.debug("write {:#x} to read-only or unknown register {:#x}", value, offset);
        return;
    }
}

void MmioTransport::write_status(uint32_t value)
{
    if (value == 0) {
        reset_locked();
        return;
    }
    // 2.1.1: the driver only ever adds bits (NEEDS_RESET is the device's to set).
    const uint32_t added = value & ~status_;
    if ((value & status_) != status_ || (added & kStatusNeedsReset) != 0) {
        log_.debug("status {:#x} -> {:#x} refused: bits may only be added", status_, value);
        return;
    }
    if ((added & kStatusFeaturesOk) != 0) {
        // 3.1.1 step 5: FEATURES_OK stays clear if the driver accepted something we did not
        // offer, or is a legacy driver (no VERSION_1: this transport is modern-only).
        const uint64_t unoffered = driver_features_ & ~offered_features_;
        if (unoffered != 0 || (driver_features_ & kFVersion1) == 0) {
            log_.warn("driver features {:#x} refused ({}): FEATURES_OK not set", driver_features_,
                         unoffered != 0 ? fmt::format("not offered: {:#x}", unoffered) : "no VIRTIO_F_VERSION_1");
            status_ = value & ~kStatusFeaturesOk;
            return;
        }
    }
    status_ = value;
    if ((added & kStatusDriverOk) != 0 && (status_ & kStatusFeaturesOk) != 0 && !activated_) {
        activate_locked();
    }
    if ((added & kStatusFailed) != 0) {
        log_.info("the guest driver gave up on the device (status FAILED)");
    }
}

void MmioTransport::activate_locked()
{
    for (size_t i = 0; i < queues_.size(); ++i) {
        VirtQueue& queue = queues_[i];
        if (!queue.ready()) {
            continue;
        }
        if (!queue.validate()) {
            device_error(fmt::format("queue {} rings are misaligned or outside guest RAM", i));
            return;
        }
        if (queue.size() == 0) {
            device_error(fmt::format("queue {} is ready with size 0", i));
            return;
        }
        queue.set_event_idx((driver_features_ & kFEventIdx) != 0);
        queue.set_indirect_desc((driver_features_ & kFIndirectDesc) != 0);
    }
    activated_ = true;
    log_.debug("driver ready, features {:#x}", driver_features_);
    device_->activate(driver_features_, queues_);
    after_device_call();
}

void MmioTransport::reset_locked()
{
    if (activated_) {
        device_->reset();
        activated_ = false;
    }
    for (auto& queue : queues_) {
        queue.reset();
    }
    status_ = 0;
    driver_features_ = 0;
    device_features_sel_ = 0;
    driver_features_sel_ = 0;
    queue_sel_ = 0;
    interrupt_status_.store(0);
}

void MmioTransport::process_notify(unsigned queue)
{
    std::lock_guard lock(mutex_);
    if (!activated_ || !driver_ok() || queue >= queues_.size() || !queues_[queue].ready()) {
        return;
    }
    device_->queue_notify(queue);
    after_device_call();
}

std::optional<std::string> MmioTransport::quiesce()
{
    std::lock_guard lock(mutex_);
    return device_->quiesce();
}

VirtQueue* MmioTransport::selected_queue() { return queue_sel_ < queues_.size() ? &queues_[queue_sel_] : nullptr; }

void MmioTransport::after_device_call()
{
    for (size_t i = 0; i < queues_.size() && (status_ & kStatusNeedsReset) == 0; ++i) {
        if (const auto error = queues_[i].error()) {
            device_error(fmt::format("queue {}: {}", i, to_string(*error)));
        }
    }
    // The device stops here, not inside device_error(): that may be called from within the device.
    if ((status_ & kStatusNeedsReset) != 0 && activated_) {
        device_->reset();
        activated_ = false;
    }
}

void MmioTransport::raise(uint32_t interrupt_bits)
{
    interrupt_status_.fetch_or(interrupt_bits);
    irq_->trigger();
}

void MmioTransport::notify_used(unsigned queue)
{
    if (queue >= queues_.size()) {
        return;
    }
    if (const auto error = queues_[queue].error()) {
        device_error(fmt::format("queue {}: {}", queue, to_string(*error)));
        return;
    }
    if (queues_[queue].needs_notification()) {
        raise(kInterruptVring);
    }
}

void MmioTransport::config_changed()
{
    ++config_generation_;
    if (driver_ok()) {
        raise(kInterruptConfig);
    }
}

void MmioTransport::device_error(std::string_view why)
{
    if ((status_ & kStatusNeedsReset) != 0) {
        return;
    }
    log_.warn("guest driver error, device needs reset: {}", why);
    const bool was_ok = driver_ok();
    status_ |= kStatusNeedsReset;
    // 2.1.2: a device entering NEEDS_RESET after DRIVER_OK sends a config change notification.
    if (was_ok) {
        raise(kInterruptConfig);
    }
}

bool MmioTransport::watch(int fd, uint32_t events, util::FdPoller::Handler handler)
{
    const bool added = poller_.add(fd, events, [this, handler = std::move(handler)](uint32_t ready) {
        std::lock_guard lock(mutex_);
        handler(ready);
        after_device_call();
    });
    if (added) {
        watched_fds_.push_back(fd);
    }
    return added;
}

bool MmioTransport::modify_watch(int fd, uint32_t events) { return poller_.modify(fd, events); }

void MmioTransport::unwatch(int fd)
{
    poller_.remove(fd);
    std::erase(watched_fds_, fd);
}

} // namespace minivmm::virtio
