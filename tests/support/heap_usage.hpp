// Bytes of heap this process has allocated and not freed, for tests that check a device holds
// no more host memory after a hostile guest's accesses than before (glibc's counters, or the
// sanitizer allocator's where ASan replaces malloc).
#pragma once

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define MINIVMM_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MINIVMM_TEST_ASAN 1
#endif
#endif

#ifdef MINIVMM_TEST_ASAN
#include <sanitizer/allocator_interface.h>
#else
#include <malloc.h>
#endif

namespace minivmm::test {

inline std::size_t heap_bytes_in_use()
{
#ifdef MINIVMM_TEST_ASAN
    return __sanitizer_get_current_allocated_bytes();
#else
    const struct mallinfo2 info = ::mallinfo2();
    return info.uordblks + info.hblkhd;
#endif
}

} // namespace minivmm::test
