// PassthroughFs: making and removing names (MKNOD, MKDIR, SYMLINK, LINK, UNLINK, RMDIR,
// RENAME/RENAME2). Each runs relative to its parent directory's O_PATH fd with a checked name.
#include "backends/fs/passthrough_fs.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace minivmm::backends {

void PassthroughFs::set_owner(int fd, const FsInode& dir, const FsCaller& caller) const
{
    // Only root can give a file away; an ordinary user's files are that user's.
    if (!as_root_) {
        return;
    }
    const uid_t uid = options_.uids.to_host(caller.uid);
    gid_t gid = options_.gids.to_host(caller.gid);
    if (auto parent = stat_fd(dir.fd.get()); parent.ok() && (parent->st_mode & S_ISGID) != 0) {
        gid = static_cast<gid_t>(-1); // a set-group-ID directory's group was inherited
    }
    // Best effort: a file system without ownership (vfat) keeps root's.
    static_cast<void>(::fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW));
}

FsResult<FsEntry> PassthroughFs::created(const FsInode& dir, const FsName& name, const FsCaller& caller)
{
    auto fd = open_beneath(dir.fd.get(), name, O_PATH);
    if (!fd.ok()) {
        return Errno{fd.error()};
    }
    set_owner(fd->get(), dir, caller);
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

FsResult<FsEntry> PassthroughFs::mknod(uint64_t parent, const FsName& name, uint32_t mode, uint32_t /*rdev*/,
                                       const FsCaller& caller)
{
    if (options_.readonly) {
        return Errno{EROFS};
    }
    auto dir = dir_inode(parent);
    if (!dir.ok()) {
        return Errno{dir.error()};
    }
    mode_t type = mode & S_IFMT;
    if (type == 0) {
        type = S_IFREG;
    }
    if (type == S_IFCHR || type == S_IFBLK) {
        return Errno{EPERM}; // device nodes would be the host's devices
    }
    if (type != S_IFREG && type != S_IFIFO && type != S_IFSOCK) {
        return Errno{EINVAL};
    }
    if (::mknodat(dir.value()->fd.get(), name.c_str(), type | (mode & 07777), 0) != 0) {
        return last_errno();
    }
    return created(*dir.value(), name, caller);
}

FsResult<FsEntry> PassthroughFs::mkdir(uint64_t parent, const FsName& name, uint32_t mode, const FsCaller& caller)
{
    if (options_.readonly) {
        return Errno{EROFS};
    }
    auto dir = dir_inode(parent);
    if (!dir.ok()) {
        return Errno{dir.error()};
    }
    if (::mkdirat(dir.value()->fd.get(), name.c_str(), mode & 07777) != 0) {
        return last_errno();
    }
    return created(*dir.value(), name, caller);
}

FsResult<FsEntry> PassthroughFs::symlink(uint64_t parent, const FsName& name, std::string_view target,
                                         const FsCaller& caller)
{
    if (options_.readonly) {
        return Errno{EROFS};
    }
    // The target is only text stored in the link: the host never follows it.
    if (target.empty() || target.size() >= kFusePathMax || target.find('\0') != std::string_view::npos) {
        return Errno{target.empty() ? ENOENT : target.size() >= kFusePathMax ? ENAMETOOLONG : EINVAL};
    }
    auto dir = dir_inode(parent);
    if (!dir.ok()) {
        return Errno{dir.error()};
    }
    const std::string text(target);
    if (::symlinkat(text.c_str(), dir.value()->fd.get(), name.c_str()) != 0) {
        return last_errno();
    }
    return created(*dir.value(), name, caller);
}

FsResult<FsEntry> PassthroughFs::link(uint64_t nodeid, uint64_t new_parent, const FsName& new_name)
{
    if (options_.readonly) {
        return Errno{EROFS};
    }
    auto node = inode(nodeid);
    auto dir = dir_inode(new_parent);
    if (!node.ok() || !dir.ok()) {
        return Errno{!node.ok() ? node.error() : dir.error()};
    }
    if (node.value()->is_dir()) {
        return Errno{EPERM};
    }
    const int fd = node.value()->fd.get();
    const int dirfd = dir.value()->fd.get();
    // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; without it, the magic link (which links the
    // inode itself, a symlink included, not what a symlink points to).
    if (::linkat(fd, "", dirfd, new_name.c_str(), AT_EMPTY_PATH) != 0) {
        if (errno != ENOENT && errno != EPERM) {
            return last_errno();
        }
        if (::linkat(AT_FDCWD, ProcSelfFd::path(fd).c_str(), dirfd, new_name.c_str(), AT_SYMLINK_FOLLOW) != 0) {
            return last_errno();
        }
    }
    return lookup_in(*dir.value(), new_name);
}

FsStatus PassthroughFs::unlink(uint64_t parent, const FsName& name)
{
    if (options_.readonly) {
        return Errno{EROFS};
    }
    auto dir = dir_inode(parent);
    if (!dir.ok()) {
        return Errno{dir.error()};
    }
    if (::unlinkat(dir.value()->fd.get(), name.c_str(), 0) != 0) {
        return last_errno();
    }
    return ok_status();
}

FsStatus PassthroughFs::rmdir(uint64_t parent, const FsName& name)
{
    if (options_.readonly) {
        return Errno{EROFS};
    }
    auto dir = dir_inode(parent);
    if (!dir.ok()) {
        return Errno{dir.error()};
    }
    if (::unlinkat(dir.value()->fd.get(), name.c_str(), AT_REMOVEDIR) != 0) {
        return last_errno();
    }
    return ok_status();
}

FsStatus PassthroughFs::rename(uint64_t old_parent, const FsName& old_name, uint64_t new_parent,
                               const FsName& new_name, uint32_t flags)
{
    if (options_.readonly) {
        return Errno{EROFS};
    }
    // RENAME_WHITEOUT makes a device node (and needs CAP_MKNOD): overlayfs's, not a guest's.
    if ((flags & ~static_cast<uint32_t>(RENAME_NOREPLACE | RENAME_EXCHANGE)) != 0 ||
        flags == (RENAME_NOREPLACE | RENAME_EXCHANGE)) {
        return Errno{EINVAL};
    }
    auto from = dir_inode(old_parent);
    auto to = dir_inode(new_parent);
    if (!from.ok() || !to.ok()) {
        return Errno{!from.ok() ? from.error() : to.error()};
    }
    if (::renameat2(from.value()->fd.get(), old_name.c_str(), to.value()->fd.get(), new_name.c_str(), flags) != 0) {
        return last_errno();
    }
    return ok_status();
}

} // namespace minivmm::backends
