#include "devices/virtio/virtio_rng.hpp"

#include <minivmm/error.hpp>

#include <algorithm>

namespace minivmm::virtio {

VirtioRng::VirtioRng(memory::GuestMemory& memory, std::unique_ptr<backends::EntropySource> source)
    : memory_(memory), source_(std::move(source))
{
}

void VirtioRng::add_syscalls(util::SeccompPolicy& policy) const
{
    policy.allow(util::kDeviceThreads, {"getrandom"}); // HostEntropy; answers run on every device thread
}

void VirtioRng::activate(uint64_t, std::span<VirtQueue> queues)
{
    queues_ = queues;
    active_ = true;
    serve(); // requests posted before DRIVER_OK
}

void VirtioRng::queue_notify(unsigned index)
{
    if (active_ && index == kRequestQueue) {
        serve();
    }
}

void VirtioRng::reset()
{
    active_ = false;
    queues_ = {};
}

void VirtioRng::serve()
{
    VirtQueue& queue = queues_[kRequestQueue];
    if (!queue.ready()) {
        return;
    }
    bool used = false;
    do {
        while (auto chain = queue.pop()) {
            const auto written = fill_chain(*chain);
            if (!written) {
                active_ = false; // device_error() was called: silent until reset
                return;
            }
            if (queue.add_used(chain->head(), *written)) {
                return; // recorded in the queue: the transport resets the device
            }
            used = true;
        }
    } while (queue.rearm_notifications());
    if (used) {
        context_->notify_used(kRequestQueue);
    }
}

std::optional<uint32_t> VirtioRng::fill_chain(const DescriptorChain& chain)
{
    uint32_t written = 0;
    bool readable = false;
    for (const auto& buffer : chain.buffers()) {
        if (!buffer.device_writable) {
            readable = true;
            continue;
        }
        const uint32_t len = std::min(buffer.len, kMaxBytesPerRequest - written);
        if (len == 0) {
            break;
        }
        // The chain was checked when popped: every buffer lies in RAM.
        const auto bytes = memory_.try_slice(buffer.addr, len);
        if (!bytes) {
            continue;
        }
        try {
            source_->fill(*bytes);
        } catch (const Error& e) {
            // device_error() logs it (through the transport's GuestLog: a guest that resets
            // the device and asks again cannot flood the log).
            context_->device_error(fmt::format("host entropy source failed: {}", e.what()));
            return std::nullopt;
        }
        written += len;
    }
    if (readable) {
        log_.debug("a request chain holds device-readable buffers; they were skipped");
    }
    if (written == 0) {
        log_.debug("a request chain has no device-writable bytes; answered with none");
    }
    bytes_served_ += written;
    return written;
}

} // namespace minivmm::virtio
