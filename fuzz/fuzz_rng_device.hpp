// The virtio-rng device for the fuzz target, on an entropy source that costs next to nothing
// (the device's bounds, not getrandom(2), are what is fuzzed) and that the input can make
// fail, as a host's getrandom(2) could.
#pragma once

#include "backends/entropy/entropy_source.hpp"
#include "devices/virtio/virtio_rng.hpp"

#include <minivmm/error.hpp>

#include <cstring>
#include <memory>

namespace minivmm::fuzz {

class RngFixture {
public:
    std::unique_ptr<virtio::VirtioDevice> make(memory::GuestMemory& memory)
    {
        auto source = std::make_unique<Source>();
        source_ = source.get();
        return std::make_unique<virtio::VirtioRng>(memory, std::move(source));
    }
    // From now on the host's entropy source fails (or works again).
    void fail(bool failing) const
    {
        if (source_ != nullptr) {
            source_->failing = failing;
        }
    }

private:
    struct Source final : backends::EntropySource {
        void fill(std::span<std::byte> out) override
        {
            if (failing) {
                throw HostError("getrandom: fuzzed failure");
            }
            std::memset(out.data(), ++calls, out.size());
        }
        bool failing = false;
        uint8_t calls = 0;
    };
    Source* source_ = nullptr;
};

} // namespace minivmm::fuzz
