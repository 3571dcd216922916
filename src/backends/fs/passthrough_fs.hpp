// A host directory served to a guest as a file system, one operation per FUSE request (the
// FuseServer decodes the wire and calls these): virtiofsd's "passthrough" design. Each inode
// the guest holds is an O_PATH fd (inode_table.hpp), each name is one checked component
// resolved beneath its parent's fd (host_calls.hpp), open files are fds reopened from those
// (handle_table.hpp). No host path is ever built from a guest name and no symlink is followed on
// the host: the guest cannot reach outside the root, whatever it sends and whatever a host
// process renames or swaps meanwhile. (A directory the guest already holds stays that directory
// if a host process moves it elsewhere, as an open directory does for a host process.)
//
// Identity: the guest sees host uids/gids through the share's IdMaps. Run as an ordinary user,
// what the guest creates belongs to that user and chown is what the host allows that user;
// run as root, new files get the calling guest user's ids (mapped) and chown is carried out.
// readonly: every modifying operation answers EROFS and files open read-only.
//
// Thread-safe: any number of worker threads call in at once (call prepare_thread() first in
// each: it gives the thread its own umask, 0, so that modes arrive as the guest asked).
#pragma once

#include "backends/fs/fs_options.hpp"
#include "backends/fs/fs_result.hpp"
#include "backends/fs/fs_name.hpp"
#include "backends/fs/fuse_wire.hpp"
#include "backends/fs/handle_table.hpp"
#include "backends/fs/host_calls.hpp"
#include "backends/fs/inode_table.hpp"

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace minivmm::backends {

class FsLocks;

// Who asked, as the request header says (guest ids).
struct FsCaller {
    uint32_t uid = 0;
    uint32_t gid = 0;
    uint32_t pid = 0;
};

// A looked-up inode: its node id (one more guest reference to it) and attributes.
struct FsEntry {
    uint64_t nodeid = 0;
    struct stat st {};
};

// An extended attribute's value or a list of names; `data` is empty for a size query.
struct FsXattr {
    size_t size = 0;
    std::vector<std::byte> data;
};

struct FsCreated {
    FsEntry entry;
    uint64_t fh = 0;
};

// Where READDIR/READDIRPLUS put what they find (the server's reply buffer).
class FsDirSink {
public:
    virtual ~FsDirSink() = default;
    // Whether one more entry with a name of `name_len` bytes fits.
    [[nodiscard]] virtual bool fits(size_t name_len) const = 0;
    // One entry (fits() said yes); `entry` is its lookup for READDIRPLUS (nullptr: none, as
    // for "." and "..", or when the lookup failed). `next_offset` resumes after it.
    virtual void add(std::string_view name, uint64_t ino, uint32_t type, uint64_t next_offset,
                     const FsEntry* entry) = 0;
};

class PassthroughFs final {
public:
    // Opens options.root (ConfigError naming it when it is not a directory we can open).
    explicit PassthroughFs(FsOptions options);
    ~PassthroughFs();
    PassthroughFs(const PassthroughFs&) = delete;
    PassthroughFs& operator=(const PassthroughFs&) = delete;

    // Each thread that calls in, once, first.
    static void prepare_thread();

    [[nodiscard]] const FsOptions& options() const { return options_; }
    // The guest's view of `st`: ids mapped, the inode number made unique across host devices,
    // the share's timeouts.
    [[nodiscard]] fuse_attr to_fuse_attr(const struct stat& st) const;
    [[nodiscard]] uint64_t guest_ino(const struct stat& st) const;

    // Everything the guest held goes: inodes but the root, handles, locks (DESTROY, reset).
    void forget_all();

    // --- Names and attributes ---
    [[nodiscard]] FsResult<FsEntry> lookup(uint64_t parent, const FsName& name);
    void forget(uint64_t nodeid, uint64_t count);
    [[nodiscard]] FsResult<struct stat> getattr(uint64_t nodeid);
    [[nodiscard]] FsResult<struct stat> setattr(uint64_t nodeid, const fuse_setattr_in& in);
    [[nodiscard]] FsResult<std::string> readlink(uint64_t nodeid);
    [[nodiscard]] FsResult<struct statvfs> statfs(uint64_t nodeid);
    [[nodiscard]] FsStatus access(uint64_t nodeid, uint32_t mask, const FsCaller& caller);

    // --- Making and removing names ---
    [[nodiscard]] FsResult<FsEntry> mknod(uint64_t parent, const FsName& name, uint32_t mode, uint32_t rdev,
                                          const FsCaller& caller);
    [[nodiscard]] FsResult<FsEntry> mkdir(uint64_t parent, const FsName& name, uint32_t mode, const FsCaller& caller);
    [[nodiscard]] FsResult<FsEntry> symlink(uint64_t parent, const FsName& name, std::string_view target,
                                            const FsCaller& caller);
    [[nodiscard]] FsResult<FsEntry> link(uint64_t nodeid, uint64_t new_parent, const FsName& new_name);
    [[nodiscard]] FsStatus unlink(uint64_t parent, const FsName& name);
    [[nodiscard]] FsStatus rmdir(uint64_t parent, const FsName& name);
    // flags: RENAME_NOREPLACE, RENAME_EXCHANGE (RENAME_WHITEOUT and others: EINVAL).
    [[nodiscard]] FsStatus rename(uint64_t old_parent, const FsName& old_name, uint64_t new_parent,
                                  const FsName& new_name, uint32_t flags);

    // --- Files ---
    [[nodiscard]] FsResult<uint64_t> open(uint64_t nodeid, uint32_t flags);
    [[nodiscard]] FsResult<FsCreated> create(uint64_t parent, const FsName& name, uint32_t flags, uint32_t mode,
                                             const FsCaller& caller);
    // Reads up to the bytes `out` holds at `offset` straight into `out`; the count read (short at EOF).
    [[nodiscard]] FsResult<size_t> read(uint64_t fh, uint64_t offset, std::span<const iovec> out);
    // Writes all of `in` at `offset` (the file's end if it was opened O_APPEND).
    [[nodiscard]] FsResult<size_t> write(uint64_t fh, uint64_t offset, std::span<const iovec> in);
    [[nodiscard]] FsStatus flush(uint64_t fh);
    // flock_unlock: the guest's close also drops the file's flock() locks now, even while other
    // requests still use the fd.
    [[nodiscard]] FsStatus release(uint64_t fh, bool flock_unlock);
    [[nodiscard]] FsStatus fsync(uint64_t fh, bool datasync, bool directory);
    [[nodiscard]] FsResult<uint64_t> lseek(uint64_t fh, uint64_t offset, uint32_t whence);
    [[nodiscard]] FsStatus fallocate(uint64_t fh, uint64_t offset, uint64_t length, uint32_t mode);
    [[nodiscard]] FsResult<uint64_t> copy_file_range(uint64_t fh_in, uint64_t off_in, uint64_t fh_out,
                                                     uint64_t off_out, uint64_t len, uint64_t flags);
    [[nodiscard]] FsStatus syncfs();

    // --- Directories ---
    [[nodiscard]] FsResult<uint64_t> opendir(uint64_t nodeid);
    [[nodiscard]] FsStatus readdir(uint64_t fh, uint64_t offset, bool plus, FsDirSink& sink);
    [[nodiscard]] FsStatus releasedir(uint64_t fh);

    // --- Extended attributes ---
    // size 0: only the size the value (the list) needs; otherwise the value, ERANGE if it is
    // longer than size.
    [[nodiscard]] FsResult<FsXattr> getxattr(uint64_t nodeid, std::string_view name, uint32_t size);
    [[nodiscard]] FsResult<FsXattr> listxattr(uint64_t nodeid, uint32_t size);
    [[nodiscard]] FsStatus setxattr(uint64_t nodeid, std::string_view name, std::span<const std::byte> value,
                                    uint32_t flags);
    [[nodiscard]] FsStatus removexattr(uint64_t nodeid, std::string_view name);

    // --- Locks (non-blocking; a SETLKW the server retries while this says EAGAIN) ---
    [[nodiscard]] FsResult<fuse_file_lock> getlk(uint64_t nodeid, uint64_t fh, uint64_t owner,
                                                 const fuse_file_lock& lock);
    [[nodiscard]] FsStatus setlk(uint64_t nodeid, uint64_t fh, uint64_t owner, const fuse_file_lock& lock,
                                 bool flock);

    [[nodiscard]] size_t inode_count() const { return inodes_.size(); }
    [[nodiscard]] size_t handle_count() const { return handles_.size(); }
    [[nodiscard]] size_t fds_held() const { return budget_.used(); }

private:
    [[nodiscard]] FsResult<std::shared_ptr<FsInode>> inode(uint64_t nodeid) const;
    [[nodiscard]] FsResult<std::shared_ptr<FsInode>> dir_inode(uint64_t nodeid) const;
    [[nodiscard]] FsResult<std::shared_ptr<FsHandle>> file(uint64_t fh) const;
    // Looks `name` up beneath `dir` and takes one guest reference to it.
    [[nodiscard]] FsResult<FsEntry> lookup_in(const FsInode& dir, const FsName& name);
    // After creating `name` in `dir`: as root, give it the caller's ids; then look it up.
    [[nodiscard]] FsResult<FsEntry> created(const FsInode& dir, const FsName& name, const FsCaller& caller);
    void set_owner(int fd, const FsInode& dir, const FsCaller& caller) const;
    [[nodiscard]] FsResult<util::UniqueFd> reopen(const FsInode& inode, int flags) const;
    [[nodiscard]] FsStatus set_times(const FsInode& inode, const fuse_setattr_in& in) const;
    [[nodiscard]] FsStatus truncate(const FsInode& inode, const fuse_setattr_in& in);
    [[nodiscard]] int host_open_flags(uint32_t guest_flags) const;

    FsOptions options_;
    ProcSelfFd proc_;
    dev_t root_dev_ = 0;
    bool as_root_ = false;
    FdBudget budget_;
    InodeTable inodes_;
    HandleTable handles_;
    std::unique_ptr<FsLocks> locks_;
};

} // namespace minivmm::backends
