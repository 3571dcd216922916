#include "backends/fs/handle_table.hpp"

#include <cerrno>

namespace minivmm::backends {

bool FdBudget::take()
{
    size_t used = used_.load();
    do {
        if (used >= limit_) {
            return false;
        }
    } while (!used_.compare_exchange_weak(used, used + 1));
    return true;
}

void FdBudget::give_back() { used_.fetch_sub(1); }

FsResult<uint64_t> HandleTable::add(util::UniqueFd fd, std::shared_ptr<FsInode> inode, bool directory)
{
    if (!budget_.take()) {
        return Errno{ENFILE};
    }
    auto handle = std::make_shared<FsHandle>();
    handle->fd = std::move(fd);
    handle->inode = std::move(inode);
    handle->directory = directory;
    std::lock_guard lock(mutex_);
    const uint64_t fh = next_++;
    handles_.emplace(fh, std::move(handle));
    return fh;
}

std::shared_ptr<FsHandle> HandleTable::get(uint64_t fh, bool directory) const
{
    std::lock_guard lock(mutex_);
    const auto it = handles_.find(fh);
    if (it == handles_.end() || it->second->directory != directory) {
        return nullptr;
    }
    return it->second;
}

std::shared_ptr<FsHandle> HandleTable::remove(uint64_t fh, bool directory)
{
    std::lock_guard lock(mutex_);
    const auto it = handles_.find(fh);
    if (it == handles_.end() || it->second->directory != directory) {
        return nullptr;
    }
    auto handle = std::move(it->second);
    handles_.erase(it);
    budget_.give_back();
    return handle;
}

void HandleTable::clear()
{
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < handles_.size(); ++i) {
        budget_.give_back();
    }
    handles_.clear();
}

size_t HandleTable::size() const
{
    std::lock_guard lock(mutex_);
    return handles_.size();
}

} // namespace minivmm::backends
