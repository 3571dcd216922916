// Walking an iovec array by byte offset.
#include "backends/block/iov_range.hpp"

#include <algorithm>
#include <cstring>

namespace minivmm::backends {

namespace {

// Calls f(pointer, bytes) for each piece of [offset, offset + length) of `iov`.
template <class F>
void for_each_piece(std::span<const iovec> iov, uint64_t offset, uint64_t length, F&& f)
{
    for (const iovec& v : iov) {
        if (length == 0) {
            return;
        }
        if (offset >= v.iov_len) {
            offset -= v.iov_len;
            continue;
        }
        const uint64_t n = std::min<uint64_t>(v.iov_len - offset, length);
        // iov_base is a caller's buffer of iov_len bytes; offset + n stays within it.
        f(static_cast<std::byte*>(v.iov_base) + offset, static_cast<std::size_t>(n));
        length -= n;
        offset = 0;
    }
}

} // namespace

void append_iov_range(std::span<const iovec> iov, uint64_t offset, uint64_t length, std::vector<iovec>& out)
{
    for_each_piece(iov, offset, length, [&](std::byte* p, std::size_t n) { out.push_back(iovec{p, n}); });
}

void zero_iov_range(std::span<const iovec> iov, uint64_t offset, uint64_t length)
{
    for_each_piece(iov, offset, length, [](std::byte* p, std::size_t n) { std::memset(p, 0, n); });
}

void copy_to_iov(std::span<const iovec> iov, uint64_t offset, std::span<const std::byte> src)
{
    std::size_t at = 0;
    for_each_piece(iov, offset, src.size(), [&](std::byte* p, std::size_t n) {
        std::memcpy(p, src.data() + at, n);
        at += n;
    });
}

void copy_from_iov(std::span<const iovec> iov, uint64_t offset, std::span<std::byte> dst)
{
    std::size_t at = 0;
    for_each_piece(iov, offset, dst.size(), [&](std::byte* p, std::size_t n) {
        std::memcpy(dst.data() + at, p, n);
        at += n;
    });
}

uint64_t iov_bytes(std::span<const iovec> iov)
{
    uint64_t n = 0;
    for (const iovec& v : iov) {
        n += v.iov_len;
    }
    return n;
}

} // namespace minivmm::backends
