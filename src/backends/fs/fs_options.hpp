// How a shared directory is served: what the guest may do, how long it may cache, whose ids it
// sees, and how much host state it may make the server hold.
#pragma once

#include "backends/fs/id_map.hpp"

#include <chrono>
#include <cstddef>
#include <filesystem>

namespace minivmm::backends {

// How long the guest may trust what it was told (FUSE entry/attribute timeouts, page cache).
enum class FsCachePolicy {
    Auto,   // 1 s timeouts; file data revalidated on open and when mtime/size change
    Always, // 1 day timeouts, data and directories kept across opens: nothing changes on the host
    Never,  // no timeouts, direct I/O: every access asks the host
};

struct FsOptions {
    // The host directory. Opened once; everything the guest reaches is beneath it.
    std::filesystem::path root;
    bool readonly = false;
    FsCachePolicy cache = FsCachePolicy::Auto;
    // Guest <-> host ids; ids outside every range are the same on both sides.
    IdMap uids;
    IdMap gids;
    // Inodes the guest may make the server hold open (an O_PATH fd and ~200 bytes each) and
    // open files/directories (an fd each, plus a lock owner's fd for POSIX locks). Past these
    // the guest gets ENFILE. Lowered to fit the process's file limit (RLIMIT_NOFILE).
    size_t max_inodes = 1 << 18;
    size_t max_handles = 1 << 14;
};

// Entry and attribute timeout of a policy.
[[nodiscard]] inline std::chrono::seconds cache_timeout(FsCachePolicy policy)
{
    switch (policy) {
    case FsCachePolicy::Never:
        return std::chrono::seconds(0);
    case FsCachePolicy::Always:
        return std::chrono::seconds(86400);
    case FsCachePolicy::Auto:
        break;
    }
    return std::chrono::seconds(1);
}

} // namespace minivmm::backends
