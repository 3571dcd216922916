#include "devices/virtio/virtio_console.hpp"

#include "memory/byte_span.hpp"
#include "util/sys_error.hpp"

#include <spdlog/spdlog.h>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>

namespace minivmm::virtio {

VirtioConsole::VirtioConsole(memory::GuestMemory& memory, std::shared_ptr<devices::ConsoleOutput> output,
                             WindowSize size)
    : memory_(memory), output_(std::move(output)), input_event_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK))
{
    if (!input_event_) {
        util::throw_sys_error("eventfd (virtio-console input)");
    }
    config_.cols = size.cols;
    config_.rows = size.rows;
    config_.max_nr_ports = 1;
}

void VirtioConsole::read_config(uint64_t offset, std::span<uint8_t> data)
{
    if (offset >= sizeof(config_)) {
        return;
    }
    const auto bytes = memory::object_u8(config_).subspan(static_cast<size_t>(offset));
    std::copy_n(bytes.begin(), std::min(data.size(), bytes.size()), data.begin());
}

void VirtioConsole::write_config(uint64_t offset, std::span<const uint8_t> data)
{
    // 5.3.4: emerg_wr is the only writable field; a write outputs one character.
    if (offset == offsetof(ConsoleConfigSpace, emerg_wr) && !data.empty()) {
        output_->write(data.first(1));
    }
}

void VirtioConsole::attach(VirtioContext& context)
{
    context_ = &context;
    if (!context.watch(input_event_.get(), EPOLLIN, [this](uint32_t) {
            uint64_t count = 0;
            [[maybe_unused]] const ssize_t n = ::read(input_event_.get(), &count, sizeof(count));
            if (active_) {
                deliver_input();
            }
        })) {
        util::throw_sys_error("epoll (virtio-console input)");
    }
}

void VirtioConsole::activate(uint64_t, std::span<VirtQueue> queues)
{
    queues_ = queues;
    active_ = true;
    transmit();
    deliver_input();
}

void VirtioConsole::queue_notify(unsigned index)
{
    if (!active_) {
        return;
    }
    if (index == kTransmitQueue) {
        transmit();
    } else if (index == kReceiveQueue) {
        deliver_input();
    }
}

void VirtioConsole::reset()
{
    active_ = false;
    queues_ = {};
}

void VirtioConsole::transmit()
{
    VirtQueue& queue = queues_[kTransmitQueue];
    if (!queue.ready()) {
        return;
    }
    bool used = false;
    do {
        while (auto chain = queue.pop()) {
            for (const auto& buffer : chain->buffers()) {
                if (buffer.device_writable) {
                    continue; // 5.3.6.2: transmit buffers are device-readable
                }
                if (const auto bytes = memory_.try_slice(buffer.addr, buffer.len)) {
                    output_->write(memory::as_u8(*bytes));
                }
            }
            if (queue.add_used(chain->head(), 0)) {
                return; // recorded in the queue: the transport resets the device
            }
            used = true;
        }
    } while (queue.rearm_notifications());
    if (used) {
        context_->notify_used(kTransmitQueue);
    }
}

void VirtioConsole::deliver_input()
{
    VirtQueue& queue = queues_[kReceiveQueue];
    if (!queue.ready()) {
        return;
    }
    bool used = false;
    bool pending = false;
    do {
        std::lock_guard lock(input_mutex_);
        while (!input_.empty()) {
            auto chain = queue.pop();
            if (!chain) {
                break; // no receive buffers: the input waits for the driver's next buffer
            }
            uint32_t written = 0;
            for (const auto& buffer : chain->buffers()) {
                const auto bytes = buffer.device_writable ? memory_.try_slice(buffer.addr, buffer.len) : std::nullopt;
                if (!bytes || input_.empty()) {
                    continue;
                }
                const size_t n = std::min(bytes->size(), input_.size());
                std::copy_n(input_.begin(), n, memory::as_writable_u8(*bytes).begin());
                input_.erase(input_.begin(), input_.begin() + static_cast<std::ptrdiff_t>(n));
                written += static_cast<uint32_t>(n);
            }
            if (queue.add_used(chain->head(), written)) {
                return; // recorded in the queue: the transport resets the device
            }
            used = true;
        }
        pending = !input_.empty();
    } while (queue.rearm_notifications() && pending);
    if (used) {
        context_->notify_used(kReceiveQueue);
    }
}

std::size_t VirtioConsole::receive(std::span<const uint8_t> bytes)
{
    size_t taken = 0;
    {
        std::lock_guard lock(input_mutex_);
        const size_t room = kInputBufferLimit - std::min(kInputBufferLimit, input_.size());
        taken = std::min(room, bytes.size());
        input_.insert(input_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(taken));
    }
    if (taken > 0) {
        const uint64_t one = 1;
        [[maybe_unused]] const ssize_t n = ::write(input_event_.get(), &one, sizeof(one));
    }
    return taken;
}

bool VirtioConsole::can_receive() const
{
    std::lock_guard lock(input_mutex_);
    return input_.size() < kInputBufferLimit;
}

} // namespace minivmm::virtio
