#include "memory/iovec_cursor.hpp"

#include <algorithm>
#include <cstring>

namespace minivmm::memory {
namespace {

[[nodiscard]] size_t total(std::span<const iovec> iov)
{
    size_t sum = 0;
    for (const auto& v : iov) {
        if (__builtin_add_overflow(sum, v.iov_len, &sum)) {
            return SIZE_MAX;
        }
    }
    return sum;
}

// The byte at `offset` of iovec `v`. The iovecs are views the caller made of memory it owns
// (checked guest slices): the arithmetic stays inside each one.
[[nodiscard]] std::byte* at(const iovec& v, size_t offset) { return static_cast<std::byte*>(v.iov_base) + offset; }

} // namespace

IovecReader::IovecReader(std::span<const iovec> iov, size_t limit) : iov_(iov), remaining_(std::min(total(iov), limit))
{
}

bool IovecReader::read(std::span<std::byte> out)
{
    if (out.size() > remaining_) {
        return false;
    }
    while (!out.empty()) {
        const iovec& v = iov_[index_];
        const size_t n = std::min(out.size(), v.iov_len - offset_);
        std::memcpy(out.data(), at(v, offset_), n);
        out = out.subspan(n);
        static_cast<void>(skip(n));
    }
    return true;
}

bool IovecReader::skip(size_t n)
{
    if (n > remaining_) {
        return false;
    }
    remaining_ -= n;
    while (index_ < iov_.size()) {
        const size_t avail = iov_[index_].iov_len - offset_;
        if (n < avail) {
            offset_ += n;
            break;
        }
        n -= avail;
        ++index_;
        offset_ = 0;
    }
    return true;
}

bool IovecReader::take(size_t n, std::vector<iovec>& out)
{
    if (n > remaining_) {
        return false;
    }
    size_t left = n;
    size_t index = index_;
    size_t offset = offset_;
    while (left > 0) {
        const iovec& v = iov_[index];
        const size_t step = std::min(left, v.iov_len - offset);
        if (step > 0) {
            out.push_back(iovec{at(v, offset), step});
        }
        left -= step;
        offset = 0;
        ++index;
    }
    return skip(n);
}

IovecWriter::IovecWriter(std::span<const iovec> iov) : iov_(iov), capacity_(total(iov)) {}

bool IovecWriter::write_at(size_t offset, std::span<const std::byte> in)
{
    if (offset > capacity_ || in.size() > capacity_ - offset) {
        return false;
    }
    for (const auto& v : iov_) {
        if (in.empty()) {
            break;
        }
        if (offset >= v.iov_len) {
            offset -= v.iov_len;
            continue;
        }
        const size_t n = std::min(in.size(), v.iov_len - offset);
        std::memcpy(at(v, offset), in.data(), n);
        in = in.subspan(n);
        offset = 0;
    }
    return true;
}

bool IovecWriter::slice(size_t offset, size_t n, std::vector<iovec>& out) const
{
    if (offset > capacity_ || n > capacity_ - offset) {
        return false;
    }
    for (const auto& v : iov_) {
        if (n == 0) {
            break;
        }
        if (offset >= v.iov_len) {
            offset -= v.iov_len;
            continue;
        }
        const size_t step = std::min(n, v.iov_len - offset);
        out.push_back(iovec{at(v, offset), step});
        n -= step;
        offset = 0;
    }
    return true;
}

} // namespace minivmm::memory
