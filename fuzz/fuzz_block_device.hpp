// The virtio-blk device for the fuzz target, on a small sparse temporary image.
#pragma once

#include "devices/virtio/virtio_device.hpp"
#include "memory/guest_memory.hpp"

#include <memory>

namespace minivmm::fuzz {

class BlockFixture {
public:
    // A virtio-blk device on a fresh 1 MiB image, or nullptr if virtio-blk is not built.
    std::unique_ptr<virtio::VirtioDevice> make(GuestMemory& memory);
};

} // namespace minivmm::fuzz
