#include "backends/fs/fs_locks.hpp"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>
#include <climits>

namespace minivmm::backends {
namespace {

constexpr uint64_t kOffsetMax = INT64_MAX; // the kernel's OFFSET_MAX: "to the end of the file"

// struct flock for a FUSE lock; EINVAL for a type or range no fcntl lock can have.
[[nodiscard]] FsResult<struct flock> to_flock(const fuse_file_lock& lock)
{
    if ((lock.type != F_RDLCK && lock.type != F_WRLCK && lock.type != F_UNLCK) || lock.start > kOffsetMax ||
        lock.end < lock.start) {
        return Errno{EINVAL};
    }
    struct flock fl {};
    fl.l_type = static_cast<short>(lock.type);
    fl.l_whence = SEEK_SET;
    fl.l_start = static_cast<off_t>(lock.start);
    fl.l_len = lock.end >= kOffsetMax ? 0 : static_cast<off_t>(lock.end - lock.start + 1);
    return fl;
}

[[nodiscard]] bool whole_file(const fuse_file_lock& lock) { return lock.start == 0 && lock.end >= kOffsetMax; }

} // namespace

FsResult<int> FsLocks::owner_fd(const FsInode& inode, uint64_t owner, bool create)
{
    const auto key = std::pair{inode.nodeid, owner};
    if (const auto it = owners_.find(key); it != owners_.end()) {
        return it->second.get();
    }
    if (!create) {
        return Errno{ENOENT};
    }
    if (!budget_.take()) {
        return Errno{ENFILE};
    }
    // Read and write if the host lets us (a write lock needs a writable fd, a read lock a
    // readable one); otherwise whichever works.
    FsResult<util::UniqueFd> fd = Errno{EACCES};
    for (const int mode : {O_RDWR, O_RDONLY, O_WRONLY}) {
        if (readonly_ && mode != O_RDONLY) {
            continue;
        }
        fd = proc_.reopen(inode.fd.get(), mode | O_NONBLOCK | O_NOCTTY);
        if (fd.ok() || (fd.error() != EACCES && fd.error() != EROFS && fd.error() != ETXTBSY)) {
            break;
        }
    }
    if (!fd.ok()) {
        budget_.give_back();
        return Errno{fd.error()};
    }
    const int raw = fd->get();
    owners_.emplace(key, std::move(fd.value()));
    return raw;
}

void FsLocks::close_owner(uint64_t nodeid, uint64_t owner)
{
    if (owners_.erase({nodeid, owner}) > 0) {
        budget_.give_back();
    }
}

FsResult<fuse_file_lock> FsLocks::test(const FsInode& inode, uint64_t owner, const fuse_file_lock& lock)
{
    if (!inode.is_reg()) {
        return Errno{EINVAL};
    }
    auto fl = to_flock(lock);
    if (!fl.ok()) {
        return Errno{fl.error()};
    }
    std::lock_guard guard(mutex_);
    // The owner's own fd, so that its own locks do not count; a passing one if it has none.
    util::UniqueFd temporary;
    int fd = -1;
    if (auto own = owner_fd(inode, owner, false); own.ok()) {
        fd = own.value();
    } else {
        auto opened = proc_.reopen(inode.fd.get(), O_RDONLY | O_NONBLOCK | O_NOCTTY);
        if (!opened.ok()) {
            return Errno{opened.error()};
        }
        temporary = std::move(opened.value());
        fd = temporary.get();
    }
    if (::fcntl(fd, F_OFD_GETLK, &fl.value()) != 0) {
        return last_errno();
    }
    fuse_file_lock out{};
    out.type = static_cast<uint32_t>(fl->l_type);
    if (fl->l_type != F_UNLCK) {
        out.start = static_cast<uint64_t>(fl->l_start);
        out.end = fl->l_len == 0 ? kOffsetMax : static_cast<uint64_t>(fl->l_start + fl->l_len - 1);
        // A host process's own pid means nothing in the guest; OFD locks have none (-1).
        out.pid = 0;
    }
    return out;
}

FsStatus FsLocks::set(const FsInode& inode, uint64_t owner, const fuse_file_lock& lock)
{
    if (!inode.is_reg()) {
        return Errno{EINVAL};
    }
    auto fl = to_flock(lock);
    if (!fl.ok()) {
        return Errno{fl.error()};
    }
    std::lock_guard guard(mutex_);
    const bool unlock = lock.type == F_UNLCK;
    auto fd = owner_fd(inode, owner, !unlock);
    if (!fd.ok()) {
        return unlock && fd.error() == ENOENT ? ok_status() : FsStatus(Errno{fd.error()});
    }
    if (unlock && whole_file(lock)) {
        close_owner(inode.nodeid, owner); // all of its locks on the file go with the fd
        return ok_status();
    }
    if (::fcntl(fd.value(), F_OFD_SETLK, &fl.value()) != 0) {
        const int error = errno;
        return Errno{error == EACCES ? EAGAIN : error};
    }
    return ok_status();
}

FsStatus FsLocks::flock(int fd, uint32_t type)
{
    const int op = type == F_RDLCK ? LOCK_SH : type == F_WRLCK ? LOCK_EX : type == F_UNLCK ? LOCK_UN : -1;
    if (op < 0) {
        return Errno{EINVAL};
    }
    if (::flock(fd, op | LOCK_NB) != 0) {
        return Errno{errno == EWOULDBLOCK ? EAGAIN : errno};
    }
    return ok_status();
}

void FsLocks::drop_inode(uint64_t nodeid)
{
    std::lock_guard guard(mutex_);
    for (auto it = owners_.lower_bound({nodeid, 0}); it != owners_.end() && it->first.first == nodeid;) {
        it = owners_.erase(it);
        budget_.give_back();
    }
}

void FsLocks::clear()
{
    std::lock_guard guard(mutex_);
    for (size_t i = 0; i < owners_.size(); ++i) {
        budget_.give_back();
    }
    owners_.clear();
}

} // namespace minivmm::backends
