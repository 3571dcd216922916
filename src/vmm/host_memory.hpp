// How much RAM this host can give one guest.
#pragma once

#include <cstdint>

namespace minivmm::vmm {

// Physical RAM plus swap: guest RAM is mapped MAP_NORESERVE, so more could be mapped, but
// a guest larger than the host could never be backed and would be killed when it grew.
[[nodiscard]] uint64_t host_memory_limit();

} // namespace minivmm::vmm
