// How much memory this process holds now, for tests that check a hostile guest cannot make
// minivmm hold more: resident pages (/proc/self/statm) and heap bytes allocated and not freed
// (glibc's counters, or the sanitizer allocator's where ASan replaces malloc).
#pragma once

#include "util/sanitizers.hpp"

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>

#if __has_include(<sanitizer/allocator_interface.h>)
#include <sanitizer/allocator_interface.h>
#endif
#include <malloc.h>

namespace minivmm::test {

inline uint64_t resident_bytes()
{
    std::ifstream statm("/proc/self/statm");
    uint64_t size = 0;
    uint64_t resident = 0;
    statm >> size >> resident;
    return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

inline std::size_t heap_bytes_in_use()
{
#if __has_include(<sanitizer/allocator_interface.h>)
    if constexpr (util::kAddressSanitizer) {
        return __sanitizer_get_current_allocated_bytes();
    }
#endif
    const struct mallinfo2 info = ::mallinfo2();
    return info.uordblks + info.hblkhd;
}

} // namespace minivmm::test
