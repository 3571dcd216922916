// Synchronous disk backend: the same ops as the io_uring backend, done inline.
#include "backends/block/sync_backend.hpp"

#include "backends/block/iov_range.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

namespace minivmm::backends {

SyncBackend::SyncBackend(int fd, std::size_t depth) : fd_(fd), depth_(depth)
{
    done_.reserve(depth);
}

bool SyncBackend::submit(Tag tag, const DiskOp& op)
{
    if (done_.size() >= depth_) {
        return false;
    }
    done_.push_back(Completion{tag, run(op)});
    return true;
}

void SyncBackend::reap(std::vector<Completion>& out)
{
    out.insert(out.end(), done_.begin(), done_.end());
    done_.clear();
}

int SyncBackend::run(const DiskOp& op)
{
    const int fd = op.fd >= 0 ? op.fd : fd_;
    switch (op.kind) {
    case DiskOpKind::Read:
    case DiskOpKind::Write: return transfer(fd, op);
    case DiskOpKind::Flush: return ::fdatasync(fd) == 0 ? 0 : errno;
    case DiskOpKind::Discard:
    case DiskOpKind::WriteZeroes:
    case DiskOpKind::WriteZeroesUnmap: return zero(fd, op);
    }
    return EINVAL;
}

int SyncBackend::transfer(int fd, const DiskOp& op)
{
    cursor_.reset(op.iov);
    uint64_t offset = op.offset;
    while (!cursor_.done()) {
        const auto iov = cursor_.remaining();
        const int count = static_cast<int>(std::min<std::size_t>(iov.size(), IOV_MAX));
        const uint64_t asked = op.stop_at_eof ? iov_bytes(iov.first(static_cast<std::size_t>(count))) : 0;
        const auto pos = static_cast<off_t>(offset);
        const ssize_t n = op.kind == DiskOpKind::Read ? ::preadv(fd, iov.data(), count, pos)
                                                      : ::pwritev(fd, iov.data(), count, pos);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno;
        }
        if (n == 0) {
            return op.stop_at_eof ? 0 : EIO; // end of file (the image shrank) or no progress
        }
        cursor_.advance(static_cast<std::size_t>(n));
        offset += static_cast<uint64_t>(n);
        if (op.stop_at_eof && static_cast<uint64_t>(n) < asked) {
            return 0;
        }
    }
    return 0;
}

int SyncBackend::zero(int fd, const DiskOp& op)
{
    for (const int mode : fallocate_modes(op.kind)) {
        if (::fallocate(fd, mode, static_cast<off_t>(op.offset), static_cast<off_t>(op.length)) == 0) {
            return 0;
        }
        if (!fallocate_refused(errno)) {
            return errno;
        }
    }
    return writes_zeroes_when_refused(op.kind) ? write_zeroes(fd, op.offset, op.length) : 0;
}

int SyncBackend::write_zeroes(int fd, uint64_t offset, uint64_t length)
{
    const auto zeros = zero_chunk();
    while (length > 0) {
        const std::size_t step = std::min<uint64_t>(length, zeros.size());
        const ssize_t n = ::pwrite(fd, zeros.data(), step, static_cast<off_t>(offset));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno;
        }
        if (n == 0) {
            return EIO;
        }
        offset += static_cast<uint64_t>(n);
        length -= static_cast<uint64_t>(n);
    }
    return 0;
}

} // namespace minivmm::backends
