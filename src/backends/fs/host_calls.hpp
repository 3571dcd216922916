// The system calls the passthrough server makes on the host, in the forms that keep the guest
// inside its share: a child is opened relative to its parent's fd with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS) from a checked single-component name (openat with
// O_NOFOLLOW where openat2 is missing: for such a name the two resolve the same), and an inode's
// O_PATH fd is reopened for I/O through its /proc/self/fd magic link, the kernel's own reference
// to that inode rather than a path (as virtiofsd and crosvm do).
#pragma once

#include "backends/fs/fs_name.hpp"
#include "backends/fs/fs_result.hpp"
#include "util/unique_fd.hpp"

#include <sys/stat.h>
#include <sys/types.h>

#include <array>
#include <cerrno>
#include <string>

namespace minivmm::backends {

// errno as an FsResult error.
[[nodiscard]] inline Errno last_errno() { return Errno{errno}; }

// `name` beneath `dirfd`, opened with `flags` (O_CLOEXEC and O_NOFOLLOW are added) and `mode`
// (for O_CREAT). O_PATH opens a symlink itself; anything else refuses one with ELOOP.
[[nodiscard]] FsResult<util::UniqueFd> open_beneath(int dirfd, const FsName& name, int flags, mode_t mode = 0);

// fstat of any fd, O_PATH included, never following a symlink.
[[nodiscard]] FsResult<struct stat> stat_fd(int fd);

// /proc/self/fd, opened once: reopening O_PATH fds, and "/proc/self/fd/N" for the calls that
// take only a path (the *xattr family).
class ProcSelfFd final {
public:
    // HostError if /proc is not mounted.
    ProcSelfFd();
    // A new fd on the same inode as `fd`, opened with `flags` (O_CLOEXEC added).
    [[nodiscard]] FsResult<util::UniqueFd> reopen(int fd, int flags) const;
    // "N" for fd N, relative to dir().
    [[nodiscard]] static std::array<char, 16> name(int fd);
    // "/proc/self/fd/N".
    [[nodiscard]] static std::string path(int fd);
    [[nodiscard]] int dir() const { return dir_.get(); }

private:
    util::UniqueFd dir_;
};

} // namespace minivmm::backends
