// Choosing a disk backend: io_uring where the host allows it, synchronous I/O otherwise.
#include "backends/block/block_backend.hpp"

#include "backends/block/io_uring_backend.hpp"
#include "backends/block/sync_backend.hpp"

#include <minivmm/error.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>

namespace minivmm::backends {

std::unique_ptr<BlockBackend> make_block_backend(int fd, std::size_t depth, BlockBackendKind kind)
{
    static std::atomic<bool> told_io_uring{false};
    static std::atomic<bool> told_sync{false};
    if (kind == BlockBackendKind::Synchronous) {
        return std::make_unique<SyncBackend>(fd, depth);
    }
    std::string why_not;
    if (auto backend = IoUringBackend::create(fd, depth, why_not)) {
        if (!told_io_uring.exchange(true)) {
            spdlog::info("virtio-blk: disk I/O through io_uring");
        }
        return backend;
    }
    if (kind == BlockBackendKind::IoUring) {
        throw HostError(fmt::format("virtio-blk: io_uring is not available: {}", why_not));
    }
    if (!told_sync.exchange(true)) {
        spdlog::info("virtio-blk: {}; disk I/O runs synchronously on the I/O thread", why_not);
    }
    return std::make_unique<SyncBackend>(fd, depth);
}

} // namespace minivmm::backends
