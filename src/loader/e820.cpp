#include "loader/e820.hpp"

#include "arch/x86_64/layout.hpp"

#include <fmt/format.h>

namespace minivmm::loader {

std::vector<E820Entry> build_e820_map(std::span<const memory::MemoryRegion> regions)
{
    const auto type = [](E820Type t) { return static_cast<uint32_t>(t); };
    std::vector<E820Entry> map;
    for (const auto& region : regions) {
        const uint64_t base = region.base.value();
        const uint64_t end = region.end();
        if (base == 0) {
            // Base memory: the kernel and its boot structures need all of the first MiB.
            if (end <= arch::kKernelStart) {
                throw ConfigError(fmt::format("guest RAM of {} KiB is too small: the kernel is loaded at 1 MiB",
                                              region.size >> 10));
            }
            map.push_back({0, arch::kEbdaStart, type(E820Type::Ram)});
            map.push_back({arch::kEbdaStart, arch::kKernelStart - arch::kEbdaStart,
                           type(E820Type::Reserved)});
            map.push_back({arch::kKernelStart, end - arch::kKernelStart, type(E820Type::Ram)});
        } else if (region.size > 0) {
            map.push_back({base, region.size, type(E820Type::Ram)});
        }
    }
    return map;
}

} // namespace minivmm::loader
