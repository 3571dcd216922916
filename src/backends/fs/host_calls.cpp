#include "backends/fs/host_calls.hpp"

#include "util/sys_error.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>

namespace minivmm::backends {
namespace {

// Cleared the first time the kernel says it has no openat2 (before Linux 5.6).
std::atomic<bool> have_openat2{true};

} // namespace

FsResult<util::UniqueFd> open_beneath(int dirfd, const FsName& name, int flags, mode_t mode)
{
    const int all = flags | O_CLOEXEC | O_NOFOLLOW;
    if (have_openat2.load(std::memory_order_relaxed)) {
        open_how how{};
        how.flags = static_cast<uint64_t>(all);
        how.mode = (flags & (O_CREAT | O_TMPFILE)) != 0 ? mode : 0;
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS;
        const long fd = ::syscall(SYS_openat2, dirfd, name.c_str(), &how, sizeof(how));
        if (fd >= 0) {
            return util::UniqueFd(static_cast<int>(fd));
        }
        if (errno != ENOSYS) {
            return last_errno();
        }
        have_openat2.store(false, std::memory_order_relaxed);
    }
    const int fd = ::openat(dirfd, name.c_str(), all, mode);
    if (fd < 0) {
        return last_errno();
    }
    return util::UniqueFd(fd);
}

FsResult<struct stat> stat_fd(int fd)
{
    struct stat st {};
    if (::fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) {
        return last_errno();
    }
    return st;
}

ProcSelfFd::ProcSelfFd() : dir_(::open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC))
{
    if (!dir_) {
        util::throw_sys_error("open /proc/self/fd (virtio-fs reopens its O_PATH fds there; is /proc mounted?)");
    }
}

std::array<char, 16> ProcSelfFd::name(int fd)
{
    std::array<char, 16> text{};
    std::snprintf(text.data(), text.size(), "%d", fd);
    return text;
}

std::string ProcSelfFd::path(int fd) { return fmt::format("/proc/self/fd/{}", fd); }

FsResult<util::UniqueFd> ProcSelfFd::reopen(int fd, int flags) const
{
    const int reopened = ::openat(dir_.get(), name(fd).data(), flags | O_CLOEXEC);
    if (reopened < 0) {
        return last_errno();
    }
    return util::UniqueFd(reopened);
}

} // namespace minivmm::backends
