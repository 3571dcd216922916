// The virtio-blk device for the fuzz target, on a small sparse temporary image.
#pragma once

#include "devices/virtio/virtio_device.hpp"
#include "memory/guest_memory.hpp"

#include <memory>

namespace minivmm::fuzz {

class BlockFixture {
public:
    // A virtio-blk device on a sparse 1 MiB temporary image (the same file for every input).
    std::unique_ptr<virtio::VirtioDevice> make(memory::GuestMemory& memory);
};

} // namespace minivmm::fuzz
