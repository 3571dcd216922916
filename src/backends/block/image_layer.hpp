// One image of a disk's backing chain as the layer above reads it: guest bytes at guest
// offsets, zeros past its virtual size. RawLayer is a raw file; qcow2::Qcow2Image the other.
#pragma once

#include "backends/block/async_task.hpp"
#include "backends/block/image_file.hpp"
#include "backends/block/io_engine.hpp"

#include <sys/uio.h>

#include <cstdint>
#include <span>
#include <vector>

namespace minivmm::backends {

class ImageLayer {
public:
    virtual ~ImageLayer() = default;
    [[nodiscard]] virtual uint64_t size() const = 0;
    // Reads [offset, offset + the iov's bytes) into `iov`; zeros past size(). 0 or an errno.
    // `iov` (the array) must stay valid until the read is done.
    [[nodiscard]] virtual Task<int> read(uint64_t offset, std::span<const iovec> iov) = 0;
};

// A raw image read through the engine (a backing file: read-only).
class RawLayer final : public ImageLayer {
public:
    RawLayer(const ImageFile& file, IoEngine& io) : fd_(file.fd()), size_(file.size_bytes()), io_(io) {}
    [[nodiscard]] uint64_t size() const override { return size_; }
    [[nodiscard]] Task<int> read(uint64_t offset, std::span<const iovec> iov) override;

private:
    int fd_;
    uint64_t size_;
    IoEngine& io_;
};

} // namespace minivmm::backends
