// Byte ranges of an iovec array (a request's buffers): sub-ranges to hand to a read or a
// write, zero-filling, and copying to and from plain buffers.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace minivmm::backends {

// Appends the iovecs covering bytes [offset, offset + length) of `iov` to `out`.
void append_iov_range(std::span<const iovec> iov, uint64_t offset, uint64_t length, std::vector<iovec>& out);
// Fills bytes [offset, offset + length) of `iov` with zeros.
void zero_iov_range(std::span<const iovec> iov, uint64_t offset, uint64_t length);
// Copies `src` into `iov` at `offset`.
void copy_to_iov(std::span<const iovec> iov, uint64_t offset, std::span<const std::byte> src);
// Copies bytes [offset, offset + dst.size()) of `iov` into `dst`.
void copy_from_iov(std::span<const iovec> iov, uint64_t offset, std::span<std::byte> dst);
[[nodiscard]] uint64_t iov_bytes(std::span<const iovec> iov);

} // namespace minivmm::backends
