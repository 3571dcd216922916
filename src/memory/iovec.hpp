// Checked guest-memory slices as iovecs for readv/writev, so a device moves packet data
// between guest RAM and a host fd without copying. The kernel accesses the bytes during the
// system call only; nobody keeps the pointer afterwards.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <span>

namespace minivmm::memory {

[[nodiscard]] inline iovec to_iovec(std::span<std::byte> bytes) { return iovec{bytes.data(), bytes.size()}; }

} // namespace minivmm::memory
