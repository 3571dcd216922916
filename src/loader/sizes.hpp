// Sizes in the loaders' error messages.
#pragma once

#include <cstdint>

namespace minivmm::loader {

// `bytes` in MiB, for "{:.1f} MiB".
[[nodiscard]] inline double mib(uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

} // namespace minivmm::loader
