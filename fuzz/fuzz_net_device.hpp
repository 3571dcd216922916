// The virtio-net device for the fuzz target, on a socket pair standing in for a TAP
// (SOCK_SEQPACKET keeps frame boundaries and truncates like one).
#pragma once

#include "devices/virtio/virtio_device.hpp"
#include "memory/guest_memory.hpp"
#include "util/unique_fd.hpp"

#include <cstdint>
#include <memory>
#include <span>

namespace minivmm::virtio {
class VirtioNet;
}

namespace minivmm::fuzz {

class NetFixture {
public:
    // A virtio-net device whose back end is one end of a fresh socket pair.
    std::unique_ptr<virtio::VirtioDevice> make(memory::GuestMemory& memory);
    // The host side: sends `frame` (virtio-net header included) to the device, or with an
    // empty frame drains what the device sent.
    void host(std::span<const uint8_t> frame);
    // The device's bound (VirtioNet::kMaxBytesHeld) holds; true without a net device.
    [[nodiscard]] bool within_bound() const;

private:
    util::UniqueFd host_;
    virtio::VirtioNet* device_ = nullptr;
};

} // namespace minivmm::fuzz
