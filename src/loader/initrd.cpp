#include "loader/initrd.hpp"

#include "loader/sizes.hpp"
#include "arch/x86_64/layout.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace minivmm::loader {

namespace {

constexpr uint64_t kPageSize = 0x1000;

} // namespace

uint64_t low_ram_end(const memory::GuestMemory& memory)
{
    for (const auto& region : memory.regions()) {
        if (region.base.value() <= arch::kKernelStart && arch::kKernelStart < region.end()) {
            return std::min(region.end(), arch::kMmioHoleStart);
        }
    }
    return 0;
}

memory::GuestAddress place_initrd(const memory::GuestMemory& memory, uint64_t size, memory::GuestAddress kernel_end,
                                  uint64_t addr_max)
{
    // The initrd may occupy addresses up to and including addr_max.
    uint64_t limit = low_ram_end(memory);
    if (addr_max < limit) {
        limit = addr_max + 1;
    }
    limit &= ~(kPageSize - 1);
    uint64_t floor = 0;
    if (__builtin_add_overflow(kernel_end.value(), kPageSize - 1, &floor)) {
        floor = UINT64_MAX;
    }
    floor &= ~(kPageSize - 1);
    const uint64_t free = limit > floor ? limit - floor : 0;
    if (size > free) {
        throw ConfigError(fmt::format("initrd ({:.1f} MiB) does not fit in guest RAM below {:#x} ({:.1f} MiB free): "
                                      "give the guest more memory",
                                      mib(size), limit, mib(free)));
    }
    return memory::GuestAddress((limit - size) & ~(kPageSize - 1));
}

InitrdLocation load_initrd(memory::GuestMemory& memory, const ImageRef& initrd,
                           memory::GuestAddress kernel_end, uint64_t addr_max)
{
    const uint64_t size = initrd.size();
    const memory::GuestAddress address = place_initrd(memory, size, kernel_end, addr_max);
    initrd.read_at(0, memory.slice(address, size));
    return {address, size};
}

} // namespace minivmm::loader
