// The inodes a guest holds (FUSE node ids, 1 being the share's root): each is an O_PATH fd on the
// host inode, opened without following symlinks, so operations on it never go through a path
// and a host-side rename or symlink swap cannot redirect them. One node id per host inode
// (device, inode number): hard links share it, and the host inode cannot be reused while the fd
// pins it. The guest's lookup count (FUSE nlookup) says when to let go: at zero the entry goes,
// and the fd closes once no request in flight still uses it (shared_ptr). Node ids are never
// reused. Thread-safe.
#pragma once

#include "backends/fs/fs_result.hpp"
#include "util/unique_fd.hpp"

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace minivmm::backends {

inline constexpr uint64_t kFsRootNodeId = 1; // FUSE_ROOT_ID

struct FsInode {
    uint64_t nodeid = 0;
    util::UniqueFd fd; // O_PATH | O_NOFOLLOW
    dev_t dev = 0;
    ino_t ino = 0;
    mode_t type = 0; // S_IFMT bits: an inode's type never changes

    [[nodiscard]] bool is_dir() const { return S_ISDIR(type); }
    [[nodiscard]] bool is_reg() const { return S_ISREG(type); }
    [[nodiscard]] bool is_symlink() const { return S_ISLNK(type); }
};

class InodeTable final {
public:
    // At most `max_inodes` entries, the root included.
    explicit InodeTable(size_t max_inodes) : max_(max_inodes) {}

    // The root (node id 1, never forgotten). Called once.
    void set_root(util::UniqueFd fd, const struct stat& st);

    // The inode of `nodeid`, or nullptr.
    [[nodiscard]] std::shared_ptr<FsInode> get(uint64_t nodeid) const;

    // One more guest reference (a LOOKUP reply) to the host inode `fd` refers to (`st` is its
    // fstat): the existing entry for (st_dev, st_ino) if there is one (then `fd` is closed), a
    // new one otherwise. ENFILE when the table is full.
    [[nodiscard]] FsResult<std::shared_ptr<FsInode>> add_lookup(util::UniqueFd fd, const struct stat& st);

    // The guest dropped `count` references (FORGET): the entry goes when none are left (count
    // larger than held: all). Unknown ids and the root are ignored. Returns whether it went.
    bool forget(uint64_t nodeid, uint64_t count);

    // Every entry but the root goes (DESTROY, device reset).
    void clear();

    [[nodiscard]] size_t size() const;
    [[nodiscard]] size_t limit() const { return max_; }

private:
    struct Entry {
        std::shared_ptr<FsInode> inode;
        uint64_t nlookup = 0;
    };

    mutable std::mutex mutex_;
    std::unordered_map<uint64_t, Entry> by_id_;
    std::map<std::pair<dev_t, ino_t>, uint64_t> by_key_;
    uint64_t next_id_ = kFsRootNodeId + 1;
    size_t max_;
};

} // namespace minivmm::backends
