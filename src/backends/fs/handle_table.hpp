// The files and directories a guest has open (FUSE file handles): an fd each, reopened from the
// inode's O_PATH fd with the guest's access mode. A handle outlives its name: a file opened and
// then unlinked or renamed still reads, writes and fstat's through it. The count of fds the
// guest makes the server hold for it (handles, and lock owners' fds: fs_locks.hpp) is bounded:
// past the limit the guest gets ENFILE. Handle ids are never reused. Thread-safe.
#pragma once

#include "backends/fs/fs_result.hpp"
#include "backends/fs/inode_table.hpp"
#include "util/unique_fd.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace minivmm::backends {

struct FsHandle {
    util::UniqueFd fd;
    std::shared_ptr<FsInode> inode;
    bool directory = false;
    // READDIR seeks the fd: one at a time per directory handle.
    std::mutex dir_mutex;
};

// A count of fds held for the guest, with a limit; shared by handles and lock owners.
class FdBudget final {
public:
    explicit FdBudget(size_t limit) : limit_(limit) {}
    // One more fd; false when the budget is spent.
    [[nodiscard]] bool take();
    void give_back();
    [[nodiscard]] size_t used() const { return used_.load(); }
    [[nodiscard]] size_t limit() const { return limit_; }

private:
    std::atomic<size_t> used_{0};
    size_t limit_;
};

class HandleTable final {
public:
    explicit HandleTable(FdBudget& budget) : budget_(budget) {}
    ~HandleTable() { clear(); }
    HandleTable(const HandleTable&) = delete;
    HandleTable& operator=(const HandleTable&) = delete;

    // A new handle for `fd` on `inode`; ENFILE when the budget is spent (fd is closed).
    [[nodiscard]] FsResult<uint64_t> add(util::UniqueFd fd, std::shared_ptr<FsInode> inode, bool directory);
    // The handle `fh` of the given kind, or nullptr (unknown id, or a file handle used as a
    // directory one or the other way round).
    [[nodiscard]] std::shared_ptr<FsHandle> get(uint64_t fh, bool directory) const;
    // Removes `fh` (RELEASE); the fd closes when the last request using it finishes. Returns the
    // handle, or nullptr if there was none of that kind.
    std::shared_ptr<FsHandle> remove(uint64_t fh, bool directory);
    void clear();
    [[nodiscard]] size_t size() const;

private:
    FdBudget& budget_;
    mutable std::mutex mutex_;
    std::unordered_map<uint64_t, std::shared_ptr<FsHandle>> handles_;
    uint64_t next_ = 1;
};

} // namespace minivmm::backends
