// Reading a raw backing file: what lies past its end reads as zeros.
#include "backends/block/image_layer.hpp"

#include "backends/block/iov_range.hpp"

#include <algorithm>

namespace minivmm::backends {

Task<int> RawLayer::read(uint64_t offset, std::span<const iovec> iov)
{
    const uint64_t length = iov_bytes(iov);
    const uint64_t inside = offset >= size_ ? 0 : std::min(length, size_ - offset);
    if (inside < length) {
        zero_iov_range(iov, inside, length - inside);
    }
    if (inside == 0) {
        co_return 0;
    }
    // Whole sectors (O_DIRECT); the read stops at the end of the file, past it the buffer
    // already holds zeros.
    const uint64_t asked = std::min(length, (inside + 511) / 512 * 512);
    std::vector<iovec> part;
    if (asked < length) {
        append_iov_range(iov, 0, asked, part);
    }
    co_return co_await io_.run(DiskOp{.kind = DiskOpKind::Read,
                                      .offset = offset,
                                      .length = asked,
                                      .iov = asked < length ? std::span<const iovec>(part) : iov,
                                      .fd = fd_,
                                      .stop_at_eof = true});
}

} // namespace minivmm::backends
