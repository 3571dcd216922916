#include "vmm/host_memory.hpp"

#include <sys/sysinfo.h>

namespace minivmm::vmm {

uint64_t host_memory_limit()
{
    struct sysinfo info {};
    if (::sysinfo(&info) != 0) {
        return UINT64_MAX;
    }
    return (static_cast<uint64_t>(info.totalram) + info.totalswap) * info.mem_unit;
}

} // namespace minivmm::vmm
