// The backend for an opened disk: raw files directly on io_uring (or synchronous I/O),
// guarded when their format was probed; qcow2 chains and snapshot overlays through
// qcow2::Qcow2Backend on top of the same.
#pragma once

#include "backends/block/block_backend.hpp"
#include "backends/block/disk_image.hpp"

#include <memory>

namespace minivmm::backends {

// `image` must outlive the backend (VirtioBlock holds both, the backend destroyed first).
[[nodiscard]] std::unique_ptr<BlockBackend> make_disk_backend(DiskImage& image, std::size_t depth,
                                                              BlockBackendKind kind);

} // namespace minivmm::backends
