#include "devices/debug_exit.hpp"

#include <algorithm>

namespace minivmm::devices {

DebugExit::DebugExit(std::function<void(int)> on_exit) : on_exit_(std::move(on_exit)) {}

void DebugExit::read(uint64_t /*offset*/, std::span<uint8_t> data)
{
    std::fill(data.begin(), data.end(), uint8_t{0});
}

void DebugExit::write(uint64_t offset, std::span<const uint8_t> data)
{
    // Stateless, so no lock: concurrent writers each report their own byte.
    if (offset == 0 && !data.empty() && on_exit_) {
        on_exit_(data[0]);
    }
}

} // namespace minivmm::devices
