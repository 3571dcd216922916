// The virtio-blk device for the fuzz target, on a small sparse temporary image, with the
// synchronous backend or io_uring.
#pragma once

#include "devices/virtio/virtio_device.hpp"
#include "memory/guest_memory.hpp"
#include "support/fake_poller.hpp"

#include <memory>

namespace minivmm::virtio {
class VirtioBlock;
}

namespace minivmm::fuzz {

class BlockFixture {
public:
    // A virtio-blk device on a sparse 1 MiB temporary image (the same file for every input).
    // With io_uring where the kernel allows it (else the synchronous backend).
    std::unique_ptr<virtio::VirtioDevice> make(memory::GuestMemory& memory, bool io_uring = false);
    // Runs completion handlers until nothing is in flight (io_uring completes on its own time;
    // waiting keeps runs repeatable), a few milliseconds at most.
    void settle(test::FakePoller& poller) const;
    // The device's bound (VirtioBlock::kMaxBytesHeld) holds; true without a block device.
    [[nodiscard]] bool within_bound() const;

private:
    virtio::VirtioBlock* device_ = nullptr;
};

} // namespace minivmm::fuzz
