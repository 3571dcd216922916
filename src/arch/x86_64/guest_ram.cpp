#include "arch/x86_64/guest_ram.hpp"

#include "arch/x86_64/layout.hpp"

#include <algorithm>

namespace minivmm::arch {

static_assert(kMmioHoleStart % memory::MmapRegion::kHugePageSize == 0 &&
                  kHighRamStart % memory::MmapRegion::kHugePageSize == 0,
              "both RAM regions start on a huge-page boundary of the guest and of the host mapping");

std::vector<memory::MemoryRegion> ram_regions(uint64_t size)
{
    std::vector<memory::MemoryRegion> regions;
    const uint64_t low = std::min(size, kMmioHoleStart);
    regions.push_back({memory::GuestAddress(0), low, 0});
    if (size > low) {
        regions.push_back({memory::GuestAddress(kHighRamStart), size - low, low});
    }
    return regions;
}

memory::GuestMemory create_guest_ram(uint64_t size, memory::HugePages huge_pages)
{
    return memory::GuestMemory::create(ram_regions(size), huge_pages);
}

} // namespace minivmm::arch
