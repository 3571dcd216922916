#include "fuzz_block_device.hpp"

namespace minivmm::fuzz {

std::unique_ptr<virtio::VirtioDevice> BlockFixture::make(GuestMemory&) { return nullptr; }

} // namespace minivmm::fuzz
