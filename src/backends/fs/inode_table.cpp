#include "backends/fs/inode_table.hpp"

#include <algorithm>
#include <cerrno>

namespace minivmm::backends {

void InodeTable::set_root(util::UniqueFd fd, const struct stat& st)
{
    auto root = std::make_shared<FsInode>();
    root->nodeid = kFsRootNodeId;
    root->fd = std::move(fd);
    root->dev = st.st_dev;
    root->ino = st.st_ino;
    root->type = st.st_mode & S_IFMT;
    std::lock_guard lock(mutex_);
    by_key_[{st.st_dev, st.st_ino}] = kFsRootNodeId;
    by_id_[kFsRootNodeId] = Entry{std::move(root), 1};
}

std::shared_ptr<FsInode> InodeTable::get(uint64_t nodeid) const
{
    std::lock_guard lock(mutex_);
    const auto it = by_id_.find(nodeid);
    return it == by_id_.end() ? nullptr : it->second.inode;
}

FsResult<std::shared_ptr<FsInode>> InodeTable::add_lookup(util::UniqueFd fd, const struct stat& st)
{
    std::lock_guard lock(mutex_);
    if (const auto key = by_key_.find({st.st_dev, st.st_ino}); key != by_key_.end()) {
        Entry& entry = by_id_.at(key->second);
        if (key->second != kFsRootNodeId) {
            ++entry.nlookup;
        }
        return entry.inode; // `fd` closes: the entry's fd is the same inode
    }
    if (by_id_.size() >= max_) {
        return Errno{ENFILE};
    }
    auto inode = std::make_shared<FsInode>();
    inode->nodeid = next_id_++;
    inode->fd = std::move(fd);
    inode->dev = st.st_dev;
    inode->ino = st.st_ino;
    inode->type = st.st_mode & S_IFMT;
    by_key_[{st.st_dev, st.st_ino}] = inode->nodeid;
    by_id_[inode->nodeid] = Entry{inode, 1};
    return inode;
}

bool InodeTable::forget(uint64_t nodeid, uint64_t count)
{
    std::lock_guard lock(mutex_);
    const auto it = by_id_.find(nodeid);
    if (nodeid == kFsRootNodeId || it == by_id_.end()) {
        return false;
    }
    Entry& entry = it->second;
    entry.nlookup -= std::min(count, entry.nlookup);
    if (entry.nlookup > 0) {
        return false;
    }
    by_key_.erase({entry.inode->dev, entry.inode->ino});
    by_id_.erase(it);
    return true;
}

void InodeTable::clear()
{
    std::lock_guard lock(mutex_);
    for (auto it = by_id_.begin(); it != by_id_.end();) {
        if (it->first == kFsRootNodeId) {
            ++it;
            continue;
        }
        by_key_.erase({it->second.inode->dev, it->second.inode->ino});
        it = by_id_.erase(it);
    }
}

size_t InodeTable::size() const
{
    std::lock_guard lock(mutex_);
    return by_id_.size();
}

} // namespace minivmm::backends
