#include "memory/guest_memory.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace minivmm::memory {

GuestMemory GuestMemory::create(std::vector<MemoryRegion> regions, HugePages huge_pages)
{
    if (regions.empty()) {
        throw HostError("guest RAM needs at least one region");
    }
    uint64_t size = 0;
    uint64_t previous_end = 0;
    for (const auto& region : regions) {
        if (region.size == 0 || region.host_offset != size || region.base.value() < previous_end ||
            region.end() < region.base.value()) {
            throw HostError(fmt::format("guest RAM region at {:#x} ({:#x} bytes) does not follow the one before",
                                        region.base.value(), region.size));
        }
        size += region.size;
        previous_end = region.end();
    }
    return GuestMemory(MmapRegion::anonymous(size, huge_pages), std::move(regions));
}

GuestMemory::GuestMemory(MmapRegion mapping, std::vector<MemoryRegion> regions)
    : mapping_(std::move(mapping)), regions_(std::move(regions))
{
}

uint64_t GuestMemory::host_address_of(const MemoryRegion& region) const
{
    // reinterpret_cast: KVM takes the host virtual address as an integer.
    return reinterpret_cast<uint64_t>(mapping_.data() + region.host_offset);
}

const MemoryRegion* GuestMemory::find(GuestAddress addr, uint64_t len) const
{
    for (const auto& region : regions_) {
        if (addr < region.base) {
            continue;
        }
        const uint64_t offset = addr.value() - region.base.value();
        if (offset <= region.size && len <= region.size - offset) {
            return &region;
        }
    }
    return nullptr;
}

bool GuestMemory::contains(GuestAddress addr, uint64_t len) const { return find(addr, len) != nullptr; }

std::optional<std::span<std::byte>> GuestMemory::try_slice(GuestAddress addr, uint64_t len)
{
    const MemoryRegion* region = find(addr, len);
    if (region == nullptr) {
        return std::nullopt;
    }
    std::byte* base = mapping_.data() + region->host_offset + (addr.value() - region->base.value());
    return std::span<std::byte>(base, len);
}

std::optional<std::span<const std::byte>> GuestMemory::try_slice(GuestAddress addr, uint64_t len) const
{
    auto view = const_cast<GuestMemory*>(this)->try_slice(addr, len);
    if (!view) {
        return std::nullopt;
    }
    return std::span<const std::byte>(*view);
}

std::span<std::byte> GuestMemory::slice(GuestAddress addr, uint64_t len)
{
    auto view = try_slice(addr, len);
    if (!view) {
        throw GuestMemoryError(fmt::format("guest range {:#x}+{:#x} is not RAM", addr.value(), len));
    }
    return *view;
}

std::span<const std::byte> GuestMemory::slice(GuestAddress addr, uint64_t len) const
{
    return const_cast<GuestMemory*>(this)->slice(addr, len);
}

bool GuestMemory::try_read(GuestAddress addr, std::span<std::byte> out) const
{
    auto view = try_slice(addr, out.size());
    if (!view) {
        return false;
    }
    std::copy(view->begin(), view->end(), out.begin());
    return true;
}

bool GuestMemory::try_write(GuestAddress addr, std::span<const std::byte> in)
{
    auto view = try_slice(addr, in.size());
    if (!view) {
        return false;
    }
    std::copy(in.begin(), in.end(), view->begin());
    return true;
}

void GuestMemory::read(GuestAddress addr, std::span<std::byte> out) const
{
    auto view = slice(addr, out.size());
    std::copy(view.begin(), view.end(), out.begin());
}

void GuestMemory::write(GuestAddress addr, std::span<const std::byte> in)
{
    auto view = slice(addr, in.size());
    std::copy(in.begin(), in.end(), view.begin());
}

void GuestMemory::fill(GuestAddress addr, uint64_t len, std::byte value)
{
    auto view = slice(addr, len);
    std::fill(view.begin(), view.end(), value);
}

} // namespace minivmm::memory
