// POSIX record locks (GETLK/SETLK) and BSD flock() for the guest, carried out on the host so
// that guest and host processes see each other's locks. The host's POSIX locks belong to a
// process, and every guest lock would be minivmm's; so each guest lock owner (FUSE lock_owner)
// gets an fd of its own on the inode and its locks are open-file-description locks
// (F_OFD_SETLK) on that fd: owners conflict with each other as guest processes do, and an
// owner's locks go when it unlocks the whole file (its fd is closed then). flock() locks are
// the open file's, so they are taken on the handle's fd. Never blocks: a blocking request is
// the server's to retry (fuse_lock_waiters.hpp). Owner fds count against the guest's fd budget.
#pragma once

#include "backends/fs/fs_result.hpp"
#include "backends/fs/fuse_wire.hpp"
#include "backends/fs/handle_table.hpp"
#include "backends/fs/host_calls.hpp"
#include "backends/fs/inode_table.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <utility>

namespace minivmm::backends {

class FsLocks final {
public:
    FsLocks(const ProcSelfFd& proc, FdBudget& budget, bool readonly) : proc_(proc), budget_(budget), readonly_(readonly)
    {
    }
    ~FsLocks() { clear(); }
    FsLocks(const FsLocks&) = delete;
    FsLocks& operator=(const FsLocks&) = delete;

    // The first lock that would conflict with `lock` for `owner`, or type F_UNLCK if none.
    [[nodiscard]] FsResult<fuse_file_lock> test(const FsInode& inode, uint64_t owner, const fuse_file_lock& lock);
    // Sets or clears `lock` for `owner`; EAGAIN if another owner's lock is in the way.
    [[nodiscard]] FsStatus set(const FsInode& inode, uint64_t owner, const fuse_file_lock& lock);
    // flock() on an open file's fd: F_RDLCK shared, F_WRLCK exclusive, F_UNLCK unlock; EAGAIN
    // if another open file holds a conflicting one.
    [[nodiscard]] static FsStatus flock(int fd, uint32_t type);

    // The inode is gone (its last guest reference forgotten): its owners' locks go too.
    void drop_inode(uint64_t nodeid);
    void clear();

private:
    [[nodiscard]] FsResult<int> owner_fd(const FsInode& inode, uint64_t owner, bool create);
    void close_owner(uint64_t nodeid, uint64_t owner);

    const ProcSelfFd& proc_;
    FdBudget& budget_;
    bool readonly_;
    std::mutex mutex_;
    std::map<std::pair<uint64_t, uint64_t>, util::UniqueFd> owners_; // (nodeid, lock owner) -> fd
};

} // namespace minivmm::backends
