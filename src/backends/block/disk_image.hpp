// A disk image opened for a virtio-blk device: raw or qcow2 (given, or probed from its first
// sector), its backing chain, and for snapshot=on a temporary overlay that takes every
// write. What the guest sees: size_bytes() (the virtual size) and readonly(); fd() is the
// file its writes change. Every file is locked (ImageFile), so no second VMM writes what
// this one uses. Knows nothing of virtio.
#pragma once

#include "backends/block/disk_chain.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace minivmm::backends {

enum class DiskFormat {
    Auto,  // qcow2 if the first sector says so, else raw (guarded: FirstSectorGuard)
    Raw,
    Qcow2,
};

// How to open an image: what the builder makes of the public DiskConfig.
struct DiskOptions {
    std::filesystem::path path;
    bool readonly = false;
    std::string serial; // at most DiskImage::kMaxSerialBytes
    bool direct = false; // O_DIRECT (cache=none): bypass the host page cache
    bool lock = true;    // F_OFD_SETLK; refuse the image if it cannot be locked
    DiskFormat format = DiskFormat::Auto;
    // Writes go to a temporary qcow2 overlay deleted at exit; the image is opened read-only
    // with a shared lock, so several VMMs may use it at once.
    bool snapshot = false;
};

class DiskImage final {
public:
    // Alignment of buffers, lengths and offsets for O_DIRECT (cache=none) I/O.
    static constexpr uint64_t kDirectAlignment = 512;
    static constexpr uint64_t kSectorSize = 512;
    static constexpr std::size_t kMaxSerialBytes = 20; // VIRTIO_BLK_ID_BYTES

    // Opens options.path close-on-exec, read-only when options.readonly or snapshot, with
    // O_DIRECT when options.direct, locked, and for qcow2 checks the whole image and opens
    // its backing chain. Throws ConfigError naming the path, one line, for everything the
    // user can fix: missing, a directory, unreadable, unwritable, empty, locked, O_DIRECT
    // refused, serial too long, an unsupported or broken image, a bad backing chain.
    [[nodiscard]] static DiskImage open(const DiskOptions& options);

    [[nodiscard]] int fd() const { return chain_->top().file.fd(); }
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }
    [[nodiscard]] bool readonly() const { return readonly_; }
    [[nodiscard]] bool direct() const { return direct_; }
    [[nodiscard]] uint64_t size_bytes() const { return size_bytes_; }
    // Whole 512-byte sectors: a tail shorter than a sector is not reachable.
    [[nodiscard]] uint64_t sectors() const { return size_bytes_ / kSectorSize; }
    [[nodiscard]] const std::string& serial() const { return serial_; }
    // The image's own format (under snapshot=on, that of the image below the overlay).
    [[nodiscard]] DiskFormat format() const { return format_; }
    // Raw by probing, not by format=raw: writes to the first sector are guarded.
    [[nodiscard]] bool probed_raw() const { return probed_raw_; }
    [[nodiscard]] bool snapshot() const { return snapshot_; }
    // Whether the guest's I/O goes through qcow2 (a qcow2 image, or snapshot=on).
    [[nodiscard]] bool through_qcow2() const { return chain_->top().qcow2.has_value(); }
    [[nodiscard]] DiskChain& chain() { return *chain_; }

private:
    DiskImage() = default;

    std::unique_ptr<DiskChain> chain_; // on the heap: backends keep references into it
    std::filesystem::path path_;
    bool readonly_ = false;
    bool direct_ = false;
    uint64_t size_bytes_ = 0;
    std::string serial_;
    DiskFormat format_ = DiskFormat::Raw;
    bool probed_raw_ = false;
    bool snapshot_ = false;
};

} // namespace minivmm::backends
