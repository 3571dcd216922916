// PassthroughFs: extended attributes (GETXATTR, LISTXATTR, SETXATTR, REMOVEXATTR). An O_PATH
// fd takes no f*xattr call, so they go through the inode's /proc/self/fd magic link, which
// names the inode itself. Symlinks carry none here (Linux allows no user.* on them, and the
// magic link of a symlink is not a path to it).
#include "backends/fs/passthrough_fs.hpp"

#include <sys/xattr.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace minivmm::backends {
namespace {

FsResult<FsXattr> sized(ssize_t n, uint32_t size, std::vector<std::byte> data)
{
    if (n < 0) {
        return last_errno();
    }
    FsXattr out;
    out.size = static_cast<size_t>(n);
    if (size > 0) {
        data.resize(out.size);
        out.data = std::move(data);
    }
    return out;
}

bool valid_name(std::string_view name)
{
    return !name.empty() && name.size() <= kFuseXattrNameMax && name.find('\0') == std::string_view::npos;
}

} // namespace

FsResult<FsXattr> PassthroughFs::getxattr(uint64_t nodeid, std::string_view name, uint32_t size)
{
    auto node = inode(nodeid);
    if (!node.ok()) {
        return Errno{node.error()};
    }
    if (!valid_name(name)) {
        return Errno{name.size() > kFuseXattrNameMax ? ERANGE : EINVAL};
    }
    if (node.value()->is_symlink()) {
        return Errno{ENODATA};
    }
    const std::string key(name);
    const std::string path = ProcSelfFd::path(node.value()->fd.get());
    std::vector<std::byte> data(std::min<size_t>(size, kFuseXattrSizeMax));
    const ssize_t n = ::getxattr(path.c_str(), key.c_str(), size > 0 ? data.data() : nullptr, data.size());
    return sized(n, size, std::move(data));
}

FsResult<FsXattr> PassthroughFs::listxattr(uint64_t nodeid, uint32_t size)
{
    auto node = inode(nodeid);
    if (!node.ok()) {
        return Errno{node.error()};
    }
    if (node.value()->is_symlink()) {
        return FsXattr{};
    }
    const std::string path = ProcSelfFd::path(node.value()->fd.get());
    std::vector<char> names(std::min<size_t>(size, kFuseXattrSizeMax));
    const ssize_t n = ::listxattr(path.c_str(), size > 0 ? names.data() : nullptr, names.size());
    std::vector<std::byte> data(names.size());
    std::memcpy(data.data(), names.data(), names.size());
    return sized(n, size, std::move(data));
}

FsStatus PassthroughFs::setxattr(uint64_t nodeid, std::string_view name, std::span<const std::byte> value,
                                 uint32_t flags)
{
    if (options_.readonly) {
        return Errno{EROFS};
    }
    auto node = inode(nodeid);
    if (!node.ok()) {
        return Errno{node.error()};
    }
    if (!valid_name(name) || value.size() > kFuseXattrSizeMax ||
        (flags & ~static_cast<uint32_t>(XATTR_CREATE | XATTR_REPLACE)) != 0) {
        return Errno{name.size() > kFuseXattrNameMax || value.size() > kFuseXattrSizeMax ? ERANGE : EINVAL};
    }
    if (node.value()->is_symlink()) {
        return Errno{EPERM};
    }
    const std::string key(name);
    const std::string path = ProcSelfFd::path(node.value()->fd.get());
    if (::setxattr(path.c_str(), key.c_str(), value.data(), value.size(), static_cast<int>(flags)) != 0) {
        return last_errno();
    }
    return ok_status();
}

FsStatus PassthroughFs::removexattr(uint64_t nodeid, std::string_view name)
{
    if (options_.readonly) {
        return Errno{EROFS};
    }
    auto node = inode(nodeid);
    if (!node.ok()) {
        return Errno{node.error()};
    }
    if (!valid_name(name)) {
        return Errno{name.size() > kFuseXattrNameMax ? ERANGE : EINVAL};
    }
    if (node.value()->is_symlink()) {
        return Errno{EPERM};
    }
    const std::string key(name);
    if (::removexattr(ProcSelfFd::path(node.value()->fd.get()).c_str(), key.c_str()) != 0) {
        return last_errno();
    }
    return ok_status();
}

} // namespace minivmm::backends
