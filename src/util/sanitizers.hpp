// Whether this is an AddressSanitizer build (the asan preset): its runtime makes system calls
// of its own, which the seccomp lists allow, and replaces malloc.
#pragma once

namespace minivmm::util {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif
#else
inline constexpr bool kAddressSanitizer = false;
#endif

} // namespace minivmm::util
