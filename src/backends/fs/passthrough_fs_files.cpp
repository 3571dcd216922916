// PassthroughFs: open files (OPEN, CREATE, READ, WRITE, FLUSH, RELEASE, FSYNC, LSEEK, FALLOCATE,
// COPY_FILE_RANGE, SYNCFS) and their locks. READ and WRITE move the data with preadv/pwritev
// straight between the file and the guest's buffers.
#include "backends/fs/passthrough_fs.hpp"

#include "backends/fs/fs_locks.hpp"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <vector>

namespace minivmm::backends {
namespace {

// Most bytes one COPY_FILE_RANGE copies: the reply's count is 32 bits, and a worker should
// not be busy for minutes on one request.
constexpr uint64_t kMaxCopy = 1ULL << 30;

// Drops the first `n` bytes of `iov` (they were transferred).
void advance(std::vector<iovec>& iov, size_t n)
{
    size_t i = 0;
    while (i < iov.size() && n >= iov[i].iov_len) {
        n -= iov[i].iov_len;
        ++i;
    }
    iov.erase(iov.begin(), iov.begin() + static_cast<std::ptrdiff_t>(i));
    if (!iov.empty() && n > 0) {
        iov.front().iov_base = static_cast<char*>(iov.front().iov_base) + n;
        iov.front().iov_len -= n;
    }
}

[[nodiscard]] size_t total(std::span<const iovec> iov)
{
    size_t sum = 0;
    for (const auto& v : iov) {
        sum += v.iov_len;
    }
    return sum;
}

[[nodiscard]] bool end_overflows(uint64_t offset, uint64_t len)
{
    return offset > static_cast<uint64_t>(INT64_MAX) || len > static_cast<uint64_t>(INT64_MAX) - offset;
}

} // namespace

int PassthroughFs::host_open_flags(uint32_t guest_flags) const
{
    // What a guest may ask of the host's open: the access mode, append, truncate and the sync
    // flags. O_DIRECT would need the guest's buffers aligned; O_NOATIME fails for a file we do
    // not own; creating, O_PATH, O_TMPFILE and the like are not for OPEN.
    const int flags = static_cast<int>(guest_flags);
    return (flags & (O_ACCMODE | O_APPEND | O_TRUNC | O_SYNC | O_DSYNC)) | O_NOCTTY | O_NONBLOCK;
}

FsResult<uint64_t> PassthroughFs::open(uint64_t nodeid, uint32_t flags)
{
    auto found = inode(nodeid);
    if (!found.ok()) {
        return Errno{found.error()};
    }
    const auto& node = found.value();
    if (node->is_dir()) {
        return Errno{EISDIR};
    }
    const int host_flags = host_open_flags(flags);
    if ((host_flags & O_ACCMODE) == O_ACCMODE) {
        return Errno{EINVAL};
    }
    if (options_.readonly && ((host_flags & O_ACCMODE) != O_RDONLY || (host_flags & O_TRUNC) != 0)) {
        return Errno{EROFS};
    }
    auto fd = reopen(*node, host_flags);
    if (!fd.ok()) {
        return Errno{fd.error()};
    }
    return handles_.add(std::move(fd.value()), node, false);
}

FsResult<FsCreated> PassthroughFs::create(uint64_t parent, const FsName& name, uint32_t flags, uint32_t mode,
                                          const FsCaller& caller)
{
    if (options_.readonly) {
        return Errno{EROFS};
    }
    auto dir = dir_inode(parent);
    if (!dir.ok()) {
        return Errno{dir.error()};
    }
    int host_flags = host_open_flags(flags);
    if ((host_flags & O_ACCMODE) == O_ACCMODE) {
        return Errno{EINVAL};
    }
    const int dirfd = dir.value()->fd.get();
    // Exclusively first, so that only a file made here is given to the caller; if the name
    // exists and the guest did not ask for O_EXCL, open what is there.
    auto fd = open_beneath(dirfd, name, host_flags | O_CREAT | O_EXCL, mode & 07777);
    bool made = fd.ok();
    if (!fd.ok() && fd.error() == EEXIST && (flags & O_EXCL) == 0) {
        fd = open_beneath(dirfd, name, host_flags, 0);
    }
    if (!fd.ok()) {
        return Errno{fd.error()};
    }
    if (made) {
        set_owner(fd->get(), *dir.value(), caller);
    }
    auto st = stat_fd(fd->get());
    if (!st.ok()) {
        return Errno{st.error()};
    }
    if (!S_ISREG(st->st_mode)) {
        return Errno{S_ISDIR(st->st_mode) ? EISDIR : ENXIO};
    }
    auto path_fd = proc_.reopen(fd->get(), O_PATH);
    if (!path_fd.ok()) {
        return Errno{path_fd.error()};
    }
    auto node = inodes_.add_lookup(std::move(path_fd.value()), st.value());
    if (!node.ok()) {
        return Errno{node.error()};
    }
    auto fh = handles_.add(std::move(fd.value()), node.value(), false);
    if (!fh.ok()) {
        forget(node.value()->nodeid, 1); // the guest hears of neither
        return Errno{fh.error()};
    }
    return FsCreated{FsEntry{node.value()->nodeid, st.value()}, fh.value()};
}

FsResult<size_t> PassthroughFs::read(uint64_t fh, uint64_t offset, std::span<const iovec> out)
{
    auto handle = file(fh);
    if (!handle.ok()) {
        return Errno{handle.error()};
    }
    if (end_overflows(offset, total(out))) {
        return Errno{EINVAL};
    }
    std::vector<iovec> left(out.begin(), out.end());
    size_t done = 0;
    while (!left.empty()) {
        const ssize_t n = ::preadv(handle.value()->fd.get(), left.data(), static_cast<int>(std::min<size_t>(left.size(), IOV_MAX)),
                                   static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return done > 0 ? FsResult<size_t>(done) : FsResult<size_t>(last_errno());
        }
        if (n == 0) {
            break; // end of file
        }
        done += static_cast<size_t>(n);
        advance(left, static_cast<size_t>(n));
    }
    return done;
}

FsResult<size_t> PassthroughFs::write(uint64_t fh, uint64_t offset, std::span<const iovec> in)
{
    auto handle = file(fh);
    if (!handle.ok()) {
        return Errno{handle.error()};
    }
    if (options_.readonly) {
        return Errno{EROFS};
    }
    if (end_overflows(offset, total(in))) {
        return Errno{EFBIG};
    }
    // With O_APPEND on the host fd, Linux's pwritev appends whatever the offset: the host's
    // idea of the end wins over the guest's, as for two processes appending to one file.
    std::vector<iovec> left(in.begin(), in.end());
    size_t done = 0;
    while (!left.empty()) {
        const ssize_t n = ::pwritev(handle.value()->fd.get(), left.data(), static_cast<int>(std::min<size_t>(left.size(), IOV_MAX)),
                                    static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return done > 0 ? FsResult<size_t>(done) : FsResult<size_t>(n < 0 ? last_errno() : Errno{EIO});
        }
        done += static_cast<size_t>(n);
        advance(left, static_cast<size_t>(n));
    }
    return done;
}

FsStatus PassthroughFs::flush(uint64_t fh)
{
    auto handle = file(fh);
    if (!handle.ok()) {
        return Errno{handle.error()};
    }
    // What close() would do for the guest's descriptor, without closing ours: file systems
    // such as NFS write back and report errors on close.
    const int dup = ::fcntl(handle.value()->fd.get(), F_DUPFD_CLOEXEC, 0);
    if (dup < 0) {
        return last_errno();
    }
    if (::close(dup) != 0 && errno != EINTR) {
        return last_errno();
    }
    return ok_status();
}

FsStatus PassthroughFs::release(uint64_t fh, bool flock_unlock)
{
    // The fd closes (and its flock() locks go) when the last request using it finishes.
    const auto handle = handles_.remove(fh, false);
    if (!handle) {
        return Errno{EBADF};
    }
    if (flock_unlock) {
        static_cast<void>(FsLocks::flock(handle->fd.get(), F_UNLCK));
    }
    return ok_status();
}

FsStatus PassthroughFs::fsync(uint64_t fh, bool datasync, bool directory)
{
    auto handle = handles_.get(fh, directory);
    if (!handle) {
        return Errno{EBADF};
    }
    const int fd = handle->fd.get();
    if ((datasync ? ::fdatasync(fd) : ::fsync(fd)) != 0) {
        return last_errno();
    }
    return ok_status();
}

FsResult<uint64_t> PassthroughFs::lseek(uint64_t fh, uint64_t offset, uint32_t whence)
{
    auto handle = file(fh);
    if (!handle.ok()) {
        return Errno{handle.error()};
    }
    // The guest keeps its own file position; only positions the file's contents decide
    // (holes and data) and the end are asked for.
    if ((whence != SEEK_SET && whence != SEEK_END && whence != SEEK_DATA && whence != SEEK_HOLE) ||
        offset > static_cast<uint64_t>(INT64_MAX)) {
        return Errno{EINVAL};
    }
    const off_t result = ::lseek(handle.value()->fd.get(), static_cast<off_t>(offset), static_cast<int>(whence));
    if (result < 0) {
        return last_errno();
    }
    return static_cast<uint64_t>(result);
}

FsStatus PassthroughFs::fallocate(uint64_t fh, uint64_t offset, uint64_t length, uint32_t mode)
{
    auto handle = file(fh);
    if (!handle.ok()) {
        return Errno{handle.error()};
    }
    if (options_.readonly) {
        return Errno{EROFS};
    }
    if (end_overflows(offset, length)) {
        return Errno{EFBIG};
    }
    if (::fallocate(handle.value()->fd.get(), static_cast<int>(mode), static_cast<off_t>(offset),
                    static_cast<off_t>(length)) != 0) {
        return last_errno();
    }
    return ok_status();
}

FsResult<uint64_t> PassthroughFs::copy_file_range(uint64_t fh_in, uint64_t off_in, uint64_t fh_out, uint64_t off_out,
                                                  uint64_t len, uint64_t flags)
{
    auto in = file(fh_in);
    auto out = file(fh_out);
    if (!in.ok() || !out.ok()) {
        return Errno{EBADF};
    }
    if (options_.readonly) {
        return Errno{EROFS};
    }
    len = std::min(len, kMaxCopy);
    if (flags != 0 || end_overflows(off_in, len) || end_overflows(off_out, len)) {
        return Errno{EINVAL};
    }
    auto from = static_cast<off_t>(off_in);
    auto to = static_cast<off_t>(off_out);
    const ssize_t n = ::copy_file_range(in.value()->fd.get(), &from, out.value()->fd.get(), &to, len, 0);
    if (n < 0) {
        return last_errno();
    }
    return static_cast<uint64_t>(n);
}

FsStatus PassthroughFs::syncfs()
{
    auto root = inode(kFsRootNodeId);
    auto fd = root.ok() ? reopen(*root.value(), O_RDONLY | O_DIRECTORY) : FsResult<util::UniqueFd>(Errno{ESTALE});
    if (!fd.ok()) {
        return Errno{fd.error()};
    }
    if (::syncfs(fd->get()) != 0) {
        return last_errno();
    }
    return ok_status();
}

FsResult<fuse_file_lock> PassthroughFs::getlk(uint64_t nodeid, uint64_t /*fh*/, uint64_t owner,
                                              const fuse_file_lock& lock)
{
    auto node = inode(nodeid);
    if (!node.ok()) {
        return Errno{node.error()};
    }
    return locks_->test(*node.value(), owner, lock);
}

FsStatus PassthroughFs::setlk(uint64_t nodeid, uint64_t fh, uint64_t owner, const fuse_file_lock& lock, bool flock)
{
    if (flock) {
        auto handle = file(fh);
        if (!handle.ok()) {
            return Errno{handle.error()};
        }
        return FsLocks::flock(handle.value()->fd.get(), lock.type);
    }
    auto node = inode(nodeid);
    if (!node.ok()) {
        return Errno{node.error()};
    }
    return locks_->set(*node.value(), owner, lock);
}

} // namespace minivmm::backends
