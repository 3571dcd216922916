#include "devices/bus.hpp"

#include <minivmm/error.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace minivmm::devices {

void Bus::add(uint64_t base, uint64_t length, std::shared_ptr<BusDevice> device, std::string device_name)
{
    uint64_t last = 0;
    if (length == 0 || __builtin_add_overflow(base, length - 1, &last)) {
        throw HostError(fmt::format("{} bus: invalid range {:#x}+{:#x} for {}", name_, base, length, device_name));
    }
    for (const auto& range : ranges_) {
        const uint64_t range_last = range.base + range.length - 1;
        if (base <= range_last && range.base <= last) {
            throw HostError(fmt::format("{} bus: {} at {:#x}+{:#x} overlaps {} at {:#x}+{:#x}", name_, device_name,
                                        base, length, range.name, range.base, range.length));
        }
    }
    auto pos = std::lower_bound(ranges_.begin(), ranges_.end(), base,
                                [](const Range& r, uint64_t b) { return r.base < b; });
    ranges_.insert(pos, Range{base, length, std::move(device), std::move(device_name)});
}

const Bus::Range* Bus::find(uint64_t address, uint64_t size) const
{
    auto it = std::upper_bound(ranges_.begin(), ranges_.end(), address,
                               [](uint64_t a, const Range& r) { return a < r.base; });
    if (it == ranges_.begin()) {
        return nullptr;
    }
    --it;
    const uint64_t offset = address - it->base;
    if (offset >= it->length || size > it->length - offset) {
        return nullptr;
    }
    return &*it;
}

void Bus::note_unhandled(const char* kind, uint64_t address, size_t size) const
{
    log_.debug("unhandled {} of {} bytes at {:#x}", kind, size, address);
}

bool Bus::read(uint64_t address, std::span<uint8_t> data) const
{
    std::fill(data.begin(), data.end(), uint8_t{0});
    if (const Range* range = find(address, data.size())) {
        range->device->read(address - range->base, data);
        return true;
    }
    std::fill(data.begin(), data.end(), uint8_t{0xff});
    note_unhandled("read", address, data.size());
    return false;
}

bool Bus::write(uint64_t address, std::span<const uint8_t> data) const
{
    if (const Range* range = find(address, data.size())) {
        range->device->write(address - range->base, data);
        return true;
    }
    note_unhandled("write", address, data.size());
    return false;
}

} // namespace minivmm::devices
