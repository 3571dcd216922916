// PassthroughFs: the share's root, limits, attributes and the operations on names and
// attributes (LOOKUP, FORGET, GETATTR, SETATTR, READLINK, STATFS, ACCESS).
#include "backends/fs/passthrough_fs.hpp"

#include "backends/fs/fs_locks.hpp"
#include "util/sys_error.hpp"

#include <minivmm/error.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

namespace minivmm::backends {
namespace {

// fds kept free for the rest of the process (other devices, other VMs, the guest's disks).
constexpr size_t kFdReserve = 1024;

// Raises the soft RLIMIT_NOFILE to the hard one (each inode the guest holds is an fd) and
// lowers the share's limits to what then fits.
FsOptions with_fd_limits(FsOptions options)
{
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
        // With CAP_SYS_RESOURCE (root) the hard limit itself may go up to what the share needs.
        const rlim_t wanted = static_cast<rlim_t>(options.max_inodes + options.max_handles + kFdReserve * 2);
        if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < wanted) {
            const rlimit higher{wanted, wanted};
            if (::setrlimit(RLIMIT_NOFILE, &higher) == 0) {
                limit = higher;
            }
        }
        if (limit.rlim_cur < limit.rlim_max) {
            rlimit raised = limit;
            raised.rlim_cur = limit.rlim_max;
            if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
                limit = raised;
            }
        }
        const size_t fds = limit.rlim_cur == RLIM_INFINITY ? SIZE_MAX : static_cast<size_t>(limit.rlim_cur);
        const size_t usable = fds > kFdReserve * 2 ? fds - kFdReserve : fds / 2;
        if (options.max_inodes + options.max_handles > usable) {
            options.max_handles = std::min(options.max_handles, std::max<size_t>(16, usable / 8));
            options.max_inodes = std::min(options.max_inodes, std::max<size_t>(16, usable - options.max_handles));
            spdlog::info("virtio-fs {}: the file limit (RLIMIT_NOFILE {}) allows {} inodes and {} open files",
                         options.root.string(), fds, options.max_inodes, options.max_handles);
        }
    }
    return options;
}

util::UniqueFd open_root(const std::filesystem::path& root, struct stat& st)
{
    util::UniqueFd fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!fd) {
        throw ConfigError(fmt::format("share '{}': cannot open the directory: {}", root.string(), std::strerror(errno)));
    }
    if (::fstat(fd.get(), &st) != 0) {
        throw ConfigError(fmt::format("share '{}': cannot stat: {}", root.string(), std::strerror(errno)));
    }
    return fd;
}

// The kernel's 32-bit device number encoding (new_encode_dev), which FUSE attributes carry.
uint32_t encode_dev(dev_t dev)
{
    const auto major = static_cast<uint32_t>(::major(dev));
    const auto minor = static_cast<uint32_t>(::minor(dev));
    return (minor & 0xff) | (major << 8) | ((minor & ~0xffU) << 12);
}

} // namespace

PassthroughFs::PassthroughFs(FsOptions options)
    : options_(with_fd_limits(std::move(options))), as_root_(::geteuid() == 0), budget_(options_.max_handles),
      inodes_(options_.max_inodes), handles_(budget_),
      locks_(std::make_unique<FsLocks>(proc_, budget_, options_.readonly))
{
    struct stat st {};
    util::UniqueFd root = open_root(options_.root, st);
    root_dev_ = st.st_dev;
    inodes_.set_root(std::move(root), st);
}

PassthroughFs::~PassthroughFs() = default;

void PassthroughFs::prepare_thread()
{
    // A umask of this thread's own, 0: modes arrive with the guest's umask applied (the
    // driver does it; FUSE_DONT_MASK is not offered) and must not be masked again.
    if (::unshare(CLONE_FS) != 0) {
        spdlog::warn("virtio-fs: unshare(CLONE_FS) failed ({}); files get the process umask", std::strerror(errno));
        return;
    }
    ::umask(0);
}

uint64_t PassthroughFs::guest_ino(const struct stat& st) const
{
    if (st.st_dev == root_dev_) {
        return st.st_ino;
    }
    // Another file system mounted inside the share: its inode numbers may repeat the root's,
    // and the guest sees one device. Fold the device into the high bits.
    const uint64_t mix = (static_cast<uint64_t>(st.st_dev) * 0x9e3779b97f4a7c15ULL) >> 48;
    return st.st_ino ^ (mix << 48);
}

fuse_attr PassthroughFs::to_fuse_attr(const struct stat& st) const
{
    fuse_attr a{};
    a.ino = guest_ino(st);
    a.size = static_cast<uint64_t>(st.st_size);
    a.blocks = static_cast<uint64_t>(st.st_blocks);
    a.atime = static_cast<uint64_t>(st.st_atim.tv_sec);
    a.mtime = static_cast<uint64_t>(st.st_mtim.tv_sec);
    a.ctime = static_cast<uint64_t>(st.st_ctim.tv_sec);
    a.atimensec = static_cast<uint32_t>(st.st_atim.tv_nsec);
    a.mtimensec = static_cast<uint32_t>(st.st_mtim.tv_nsec);
    a.ctimensec = static_cast<uint32_t>(st.st_ctim.tv_nsec);
    a.mode = st.st_mode;
    a.nlink = static_cast<uint32_t>(std::min<nlink_t>(st.st_nlink, UINT32_MAX));
    a.uid = options_.uids.to_guest(st.st_uid);
    a.gid = options_.gids.to_guest(st.st_gid);
    a.rdev = encode_dev(st.st_rdev);
    a.blksize = static_cast<uint32_t>(st.st_blksize);
    return a;
}

void PassthroughFs::forget_all()
{
    handles_.clear();
    locks_->clear();
    inodes_.clear();
}

FsResult<std::shared_ptr<FsInode>> PassthroughFs::inode(uint64_t nodeid) const
{
    auto found = inodes_.get(nodeid);
    if (!found) {
        return Errno{ESTALE};
    }
    return found;
}

FsResult<std::shared_ptr<FsInode>> PassthroughFs::dir_inode(uint64_t nodeid) const
{
    auto found = inode(nodeid);
    if (found.ok() && !found.value()->is_dir()) {
        return Errno{ENOTDIR};
    }
    return found;
}

FsResult<std::shared_ptr<FsHandle>> PassthroughFs::file(uint64_t fh) const
{
    auto handle = handles_.get(fh, false);
    if (!handle) {
        return Errno{EBADF};
    }
    return handle;
}

FsResult<util::UniqueFd> PassthroughFs::reopen(const FsInode& node, int flags) const
{
    // Only files and directories are ever opened: a FIFO would block a worker, a device node
    // is the host's (the guest's driver handles its special files itself).
    if (!node.is_reg() && !node.is_dir()) {
        return Errno{node.is_symlink() ? ELOOP : ENXIO};
    }
    return proc_.reopen(node.fd.get(), flags);
}

FsResult<FsEntry> PassthroughFs::lookup_in(const FsInode& dir, const FsName& name)
{
    auto fd = open_beneath(dir.fd.get(), name, O_PATH);
    if (!fd.ok()) {
        return Errno{fd.error()};
    }
    auto st = stat_fd(fd->get());
    if (!st.ok()) {
        return Errno{st.error()};
    }
    auto node = inodes_.add_lookup(std::move(fd.value()), st.value());
    if (!node.ok()) {
        return Errno{node.error()};
    }
    return FsEntry{node.value()->nodeid, st.value()};
}

FsResult<FsEntry> PassthroughFs::lookup(uint64_t parent, const FsName& name)
{
    auto dir = dir_inode(parent);
    if (!dir.ok()) {
        return Errno{dir.error()};
    }
    return lookup_in(*dir.value(), name);
}

void PassthroughFs::forget(uint64_t nodeid, uint64_t count)
{
    if (inodes_.forget(nodeid, count)) {
        locks_->drop_inode(nodeid);
    }
}

FsResult<struct stat> PassthroughFs::getattr(uint64_t nodeid)
{
    // The O_PATH fd answers for the inode itself, linked or not.
    auto node = inode(nodeid);
    if (!node.ok()) {
        return Errno{node.error()};
    }
    return stat_fd(node.value()->fd.get());
}

FsStatus PassthroughFs::set_times(const FsInode& node, const fuse_setattr_in& in) const
{
    timespec times[2];
    times[0].tv_sec = static_cast<time_t>(in.atime);
    times[0].tv_nsec = (in.valid & FATTR_ATIME_NOW) != 0 ? UTIME_NOW
                       : (in.valid & FATTR_ATIME) != 0     ? static_cast<long>(in.atimensec)
                                                           : UTIME_OMIT;
    times[1].tv_sec = static_cast<time_t>(in.mtime);
    times[1].tv_nsec = (in.valid & FATTR_MTIME_NOW) != 0 ? UTIME_NOW
                       : (in.valid & FATTR_MTIME) != 0     ? static_cast<long>(in.mtimensec)
                                                           : UTIME_OMIT;
    for (const auto& t : times) {
        if (t.tv_nsec != UTIME_NOW && t.tv_nsec != UTIME_OMIT && (t.tv_nsec < 0 || t.tv_nsec >= 1'000'000'000)) {
            return Errno{EINVAL};
        }
    }
    if (::utimensat(node.fd.get(), "", times, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0) {
        return ok_status();
    }
    if (errno != EINVAL || node.is_symlink()) {
        return last_errno();
    }
    // Kernels before 5.8 take no AT_EMPTY_PATH here: through the magic link instead.
    if (::utimensat(proc_.dir(), ProcSelfFd::name(node.fd.get()).data(), times, 0) != 0) {
        return last_errno();
    }
    return ok_status();
}

FsStatus PassthroughFs::truncate(const FsInode& node, const fuse_setattr_in& in)
{
    if (in.size > static_cast<uint64_t>(INT64_MAX)) {
        return Errno{EINVAL};
    }
    if (node.is_dir()) {
        return Errno{EISDIR};
    }
    if (!node.is_reg()) {
        return Errno{EINVAL};
    }
    const auto handle = (in.valid & FATTR_FH) != 0 ? handles_.get(in.fh, false) : nullptr;
    util::UniqueFd opened;
    int fd = -1;
    if (handle && handle->inode.get() == &node) {
        fd = handle->fd.get();
    } else {
        auto reopened = reopen(node, O_WRONLY | O_NONBLOCK | O_NOCTTY);
        if (!reopened.ok()) {
            return Errno{reopened.error()};
        }
        opened = std::move(reopened.value());
        fd = opened.get();
    }
    if (::ftruncate(fd, static_cast<off_t>(in.size)) != 0) {
        return last_errno();
    }
    return ok_status();
}

FsResult<struct stat> PassthroughFs::setattr(uint64_t nodeid, const fuse_setattr_in& in)
{
    auto found = inode(nodeid);
    if (!found.ok()) {
        return Errno{found.error()};
    }
    const FsInode& node = *found.value();
    constexpr uint32_t kChanges = FATTR_MODE | FATTR_UID | FATTR_GID | FATTR_SIZE | FATTR_ATIME | FATTR_MTIME |
                                  FATTR_ATIME_NOW | FATTR_MTIME_NOW;
    if (options_.readonly && (in.valid & kChanges) != 0) {
        return Errno{EROFS};
    }
    if ((in.valid & FATTR_MODE) != 0) {
        if (node.is_symlink()) {
            return Errno{EOPNOTSUPP}; // Linux has no mode bits on symlinks
        }
        if (::fchmodat(proc_.dir(), ProcSelfFd::name(node.fd.get()).data(), in.mode & 07777, 0) != 0) {
            return last_errno();
        }
    }
    if ((in.valid & (FATTR_UID | FATTR_GID)) != 0) {
        const uid_t uid = (in.valid & FATTR_UID) != 0 ? options_.uids.to_host(in.uid) : static_cast<uid_t>(-1);
        const gid_t gid = (in.valid & FATTR_GID) != 0 ? options_.gids.to_host(in.gid) : static_cast<gid_t>(-1);
        if (::fchownat(node.fd.get(), "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) {
            return last_errno();
        }
    }
    if ((in.valid & FATTR_SIZE) != 0) {
        if (auto done = truncate(node, in); !done.ok()) {
            return Errno{done.error()};
        }
    }
    if ((in.valid & (FATTR_ATIME | FATTR_MTIME | FATTR_ATIME_NOW | FATTR_MTIME_NOW)) != 0) {
        if (auto done = set_times(node, in); !done.ok()) {
            return Errno{done.error()};
        }
    }
    return stat_fd(node.fd.get());
}

FsResult<std::string> PassthroughFs::readlink(uint64_t nodeid)
{
    auto node = inode(nodeid);
    if (!node.ok()) {
        return Errno{node.error()};
    }
    if (!node.value()->is_symlink()) {
        return Errno{EINVAL};
    }
    std::string target(kFusePathMax, '\0');
    const ssize_t n = ::readlinkat(node.value()->fd.get(), "", target.data(), target.size());
    if (n < 0) {
        return last_errno();
    }
    target.resize(static_cast<size_t>(n));
    return target;
}

FsResult<struct statvfs> PassthroughFs::statfs(uint64_t nodeid)
{
    auto node = inode(nodeid);
    if (!node.ok()) {
        return Errno{node.error()};
    }
    struct statvfs st {};
    if (::fstatvfs(node.value()->fd.get(), &st) != 0) {
        return last_errno();
    }
    return st;
}

FsStatus PassthroughFs::access(uint64_t nodeid, uint32_t mask, const FsCaller& caller)
{
    auto st = getattr(nodeid);
    if (!st.ok()) {
        return Errno{st.error()};
    }
    mask &= R_OK | W_OK | X_OK;
    if (mask == 0) {
        return ok_status(); // F_OK: it exists
    }
    if ((mask & W_OK) != 0 && options_.readonly) {
        return Errno{EROFS};
    }
    // The check the guest's kernel would make, on the attributes it is shown.
    const fuse_attr a = to_fuse_attr(st.value());
    if (caller.uid == 0) {
        const bool any_x = (a.mode & 0111) != 0 || S_ISDIR(a.mode);
        return (mask & X_OK) != 0 && !any_x ? FsStatus(Errno{EACCES}) : ok_status();
    }
    const uint32_t bits = caller.uid == a.uid ? (a.mode >> 6) & 7 : caller.gid == a.gid ? (a.mode >> 3) & 7 : a.mode & 7;
    return (bits & mask) == mask ? ok_status() : FsStatus(Errno{EACCES});
}

} // namespace minivmm::backends
