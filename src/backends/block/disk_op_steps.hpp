// Pieces both disk backends use to carry a DiskOp through: the iovecs not yet transferred
// after a short read or write, and the fallocate modes tried, in order, for discard and
// write-zeroes before falling back to writing zeros.
#pragma once

#include "backends/block/block_backend.hpp"

#include <sys/uio.h>

#include <cstddef>
#include <span>
#include <vector>

namespace minivmm::backends {

// The part of an iovec array that is still to be transferred.
class IovCursor final {
public:
    // Copies `iov`; the storage is reused, so a cursor allocates only when it first grows.
    void reset(std::span<const iovec> iov);
    [[nodiscard]] std::span<const iovec> remaining() const { return std::span(iov_).subspan(first_); }
    [[nodiscard]] bool done() const { return first_ == iov_.size(); }
    // Drops `bytes` from the front (at most what remains).
    void advance(std::size_t bytes);

private:
    std::vector<iovec> iov_;
    std::size_t first_ = 0;
};

// fallocate(2) modes for Discard, WriteZeroes and WriteZeroesUnmap, most preferred first.
// A mode refused with EOPNOTSUPP moves on to the next; past the last, write_zeroes_fallback().
[[nodiscard]] std::span<const int> fallocate_modes(DiskOpKind kind);
// True when fallocate refused the op in a way a fallback can answer.
[[nodiscard]] bool fallocate_refused(int error);
// After every mode was refused: WriteZeroes* write zeros; Discard is a hint and just succeeds.
[[nodiscard]] bool writes_zeroes_when_refused(DiskOpKind kind);

// 64 KiB of zeros, aligned for O_DIRECT, to write from. Never written to.
[[nodiscard]] std::span<std::byte> zero_chunk();

} // namespace minivmm::backends
