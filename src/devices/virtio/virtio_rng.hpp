// virtio-rng, the entropy device (virtio 1.2 section 5.4): one request queue whose
// device-writable buffers the device fills with random bytes from the host, written straight
// into guest memory from an EntropySource (getrandom(2) in a VM). No feature bits, no
// configuration space (5.4.3, 5.4.4). With it a guest's CRNG is seeded as soon as the
// virtio_rng driver binds, instead of waiting for enough interrupt timing jitter.
//
// Each request is answered at once with at most kMaxBytesPerRequest bytes (5.4.7.1: the
// device MAY use less than the whole buffer); Linux asks for 64 bytes at a time. A chain's
// device-readable buffers are skipped (5.4.6.1: the driver MUST NOT post them), and a chain
// with no device-writable byte is answered with 0 bytes written; both are logged at debug
// level, rate-limited. A failure of the host's entropy source marks the device
// DEVICE_NEEDS_RESET, and the device stays silent until the driver resets it.
//
// Host memory a guest can make the device hold (kMaxBytesHeld, below): one chain's buffer
// list at a time, freed before the next chain is popped; the random bytes are written
// straight into guest RAM, never copied through a host buffer. Host CPU per request is
// bounded too: at most kMaxBytesPerRequest bytes are generated for one chain, however long
// its buffers are (getrandom(2) never blocks once the host's pool is initialised, and does
// not deplete it, so no rate limit is needed to protect other users of the host's entropy).
#pragma once

#include "backends/entropy/entropy_source.hpp"
#include "devices/virtio/virtio_device.hpp"
#include "memory/guest_memory.hpp"
#include "util/guest_log.hpp"

#include <memory>

namespace minivmm::virtio {

class VirtioRng final : public VirtioDevice {
public:
    static constexpr unsigned kRequestQueue = 0;
    static constexpr uint16_t kQueueSize = 256;
    static constexpr uint32_t kMaxBytesPerRequest = 64 * 1024;
    // The most host memory a guest can make the device hold: one chain of at most kQueueSize
    // buffers (descriptor_chain.hpp) = 4 KiB plus the chain itself.
    static constexpr uint64_t kMaxBytesHeld = kQueueSize * sizeof(DescriptorBuffer) + sizeof(DescriptorChain);

    VirtioRng(memory::GuestMemory& memory, std::unique_ptr<backends::EntropySource> source);

    [[nodiscard]] uint32_t device_id() const override { return kDeviceIdEntropy; }
    [[nodiscard]] std::string name() const override { return "virtio-rng"; }
    [[nodiscard]] uint64_t device_features() const override { return 0; }
    [[nodiscard]] std::vector<uint16_t> queue_max_sizes() const override { return {kQueueSize}; }
    void read_config(uint64_t, std::span<uint8_t>) override {} // no configuration space
    void write_config(uint64_t, std::span<const uint8_t>) override {}
    void attach(VirtioContext& context) override { context_ = &context; }
    void activate(uint64_t features, std::span<VirtQueue> queues) override;
    void queue_notify(unsigned index) override;
    void reset() override;
    void add_syscalls(util::SeccompPolicy& policy) const override;

    // Bytes handed to the guest since the device was made (for tests and logs).
    [[nodiscard]] uint64_t bytes_served() const { return bytes_served_; }

private:
    void serve();
    // Fills one chain's device-writable buffers, up to kMaxBytesPerRequest; the bytes
    // written, or nullopt when the host's entropy source failed.
    [[nodiscard]] std::optional<uint32_t> fill_chain(const DescriptorChain& chain);

    memory::GuestMemory& memory_;
    std::unique_ptr<backends::EntropySource> source_;
    VirtioContext* context_ = nullptr;
    std::span<VirtQueue> queues_;
    bool active_ = false;
    uint64_t bytes_served_ = 0;
    util::GuestLog log_{"virtio-rng"};
};

} // namespace minivmm::virtio
