#include "devices/ignored_ports.hpp"

#include <algorithm>
#include <memory>

namespace minivmm::devices {

void IgnoredPorts::read(uint64_t /*offset*/, std::span<uint8_t> data)
{
    std::fill(data.begin(), data.end(), read_value_);
}

void IgnoredPorts::write(uint64_t /*offset*/, std::span<const uint8_t> /*data*/) {}

void add_ignored_ports(Bus& pio)
{
    for (const auto& range : IgnoredPorts::kLegacyRanges) {
        pio.add(range.base, range.length, std::make_shared<IgnoredPorts>(range.read_value), range.name);
    }
}

} // namespace minivmm::devices
