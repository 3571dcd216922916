// The FUSE wire protocol as the guest's virtio-fs driver speaks it: the structures of
// <linux/fuse.h> (7.38, from linux-libc-dev), the protocol versions this server speaks and the
// limits it announces in INIT. Little-endian, x86 hosts only (as the rest of minivmm).
#pragma once

#include <linux/fuse.h>

#include <cstddef>
#include <cstdint>

namespace minivmm::backends {

// Protocol 7.x: the kernel's minor if lower than ours. virtio-fs drivers (Linux 5.4, 7.31) and
// later all speak at least 7.27; older minors change reply sizes this server does not keep.
inline constexpr uint32_t kFuseMajor = FUSE_KERNEL_VERSION;
inline constexpr uint32_t kFuseMinor = FUSE_KERNEL_MINOR_VERSION;
inline constexpr uint32_t kFuseMinMinor = 27;

// What INIT announces. max_write is 256 pages: with FUSE_MAX_PAGES the driver sends up to
// min(max_pages, queue size - 4) pages per request (Linux virtio_fs.c), so a 256-entry queue
// carries 1 MiB reads and writes.
inline constexpr uint32_t kFuseMaxPages = 256;
inline constexpr uint32_t kFuseMaxWrite = kFuseMaxPages * 4096;
inline constexpr uint32_t kFuseMaxReadahead = kFuseMaxWrite;
inline constexpr uint16_t kFuseMaxBackground = 64;
inline constexpr uint16_t kFuseCongestionThreshold = 48;
// A request is its headers, at most two names (RENAME), an xattr value or one write's data.
inline constexpr size_t kFuseMaxRequest = kFuseMaxWrite + 8192;

inline constexpr size_t kFuseNameMax = 255;       // NAME_MAX
inline constexpr size_t kFusePathMax = 4096;      // PATH_MAX: symlink targets
inline constexpr size_t kFuseXattrNameMax = 255;  // XATTR_NAME_MAX
inline constexpr size_t kFuseXattrSizeMax = 65536; // XATTR_SIZE_MAX (values and lists)

static_assert(sizeof(fuse_in_header) == 40);
static_assert(sizeof(fuse_out_header) == 16);
static_assert(sizeof(fuse_attr) == 88);
static_assert(sizeof(fuse_entry_out) == 128);
static_assert(sizeof(fuse_dirent) == 24);

} // namespace minivmm::backends
