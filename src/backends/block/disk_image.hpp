// A raw disk image opened for a virtio-blk device: the file, its size, how it is cached and
// a lock that keeps a second VMM (or a second disk of this one) from writing it at the same
// time. Knows nothing of virtio. Regular files and block devices; no image formats.
#pragma once

#include "util/unique_fd.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace minivmm::backends {

// How to open an image: what the builder makes of the public DiskConfig.
struct DiskOptions {
    std::filesystem::path path;
    bool readonly = false;
    std::string serial; // at most DiskImage::kMaxSerialBytes
    bool direct = false; // O_DIRECT (cache=none): bypass the host page cache
    bool lock = true;    // F_OFD_SETLK; refuse the image if it cannot be locked
};

class DiskImage final {
public:
    // Alignment of buffers, lengths and offsets for O_DIRECT (cache=none) I/O.
    static constexpr uint64_t kDirectAlignment = 512;
    static constexpr uint64_t kSectorSize = 512;
    static constexpr std::size_t kMaxSerialBytes = 20; // VIRTIO_BLK_ID_BYTES

    // Opens options.path close-on-exec, read-only when options.readonly, with O_DIRECT when
    // options.direct, and takes an OFD lock (exclusive when writable, shared when read-only).
    // Throws ConfigError naming the path for everything the user can fix: missing, a
    // directory, unreadable, unwritable, empty, locked, O_DIRECT refused, serial too long.
    [[nodiscard]] static DiskImage open(const DiskOptions& options);

    [[nodiscard]] int fd() const { return fd_.get(); }
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }
    [[nodiscard]] bool readonly() const { return readonly_; }
    [[nodiscard]] bool direct() const { return direct_; }
    [[nodiscard]] uint64_t size_bytes() const { return size_bytes_; }
    // Whole 512-byte sectors: a tail shorter than a sector is not reachable.
    [[nodiscard]] uint64_t sectors() const { return size_bytes_ / kSectorSize; }
    [[nodiscard]] const std::string& serial() const { return serial_; }

private:
    DiskImage(util::UniqueFd fd, std::filesystem::path path, bool readonly, bool direct, uint64_t size_bytes,
              std::string serial);

    util::UniqueFd fd_;
    std::filesystem::path path_;
    bool readonly_ = false;
    bool direct_ = false;
    uint64_t size_bytes_ = 0;
    std::string serial_;
};

} // namespace minivmm::backends
