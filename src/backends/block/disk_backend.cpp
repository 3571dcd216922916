// Choosing the backend for a disk by what the guest's I/O goes through.
#include "backends/block/disk_backend.hpp"

#include "backends/block/first_sector_guard.hpp"
#include "backends/block/qcow2/qcow2_backend.hpp"

namespace minivmm::backends {

std::unique_ptr<BlockBackend> make_disk_backend(DiskImage& image, std::size_t depth, BlockBackendKind kind)
{
    if (image.through_qcow2()) {
        // A guest request may take a few file ops (table loads, copy-on-write, write-back).
        auto inner = make_block_backend(image.fd(), depth * 2, kind);
        return std::make_unique<qcow2::Qcow2Backend>(image.chain(), std::move(inner), depth);
    }
    auto backend = make_block_backend(image.fd(), depth, kind);
    if (image.probed_raw() && !image.readonly()) {
        return std::make_unique<FirstSectorGuard>(std::move(backend), image.path().string());
    }
    return backend;
}

} // namespace minivmm::backends
