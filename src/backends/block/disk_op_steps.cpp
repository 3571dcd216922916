// Short-transfer bookkeeping and fallocate fallbacks for the disk backends.
#include "backends/block/disk_op_steps.hpp"

#include <fcntl.h>
#include <linux/falloc.h>

#include <algorithm>
#include <array>
#include <cerrno>

namespace minivmm::backends {

void IovCursor::reset(std::span<const iovec> iov)
{
    iov_.assign(iov.begin(), iov.end());
    first_ = 0;
    // Empty entries would make a transfer of zero bytes look like end of file.
    while (first_ < iov_.size() && iov_[first_].iov_len == 0) {
        ++first_;
    }
}

void IovCursor::advance(std::size_t bytes)
{
    while (first_ < iov_.size()) {
        iovec& head = iov_[first_];
        const std::size_t step = std::min(bytes, head.iov_len);
        // iov_base is the caller's buffer; stepping within it stays inside it.
        head.iov_base = static_cast<std::byte*>(head.iov_base) + step;
        head.iov_len -= step;
        bytes -= step;
        if (head.iov_len != 0) {
            break;
        }
        ++first_;
    }
}

std::span<const int> fallocate_modes(DiskOpKind kind)
{
    static constexpr std::array<int, 1> kDiscard{FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE};
    static constexpr std::array<int, 1> kZero{FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE};
    static constexpr std::array<int, 2> kZeroUnmap{FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                                   FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE};
    switch (kind) {
    case DiskOpKind::Discard: return kDiscard;
    case DiskOpKind::WriteZeroes: return kZero;
    case DiskOpKind::WriteZeroesUnmap: return kZeroUnmap;
    case DiskOpKind::Read:
    case DiskOpKind::Write:
    case DiskOpKind::Flush: break;
    }
    return {};
}

bool fallocate_refused(int error) { return error == EOPNOTSUPP; }

bool writes_zeroes_when_refused(DiskOpKind kind)
{
    return kind == DiskOpKind::WriteZeroes || kind == DiskOpKind::WriteZeroesUnmap;
}

std::span<std::byte> zero_chunk()
{
    alignas(4096) static std::array<std::byte, 64 * 1024> zeros{};
    return zeros;
}

} // namespace minivmm::backends
