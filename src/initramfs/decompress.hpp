// Decompressing a kernel module in host memory (.ko.xz, .ko.zst, .ko.gz as depmod names
// them), so that the guest can load it whether or not its kernel decompresses modules itself:
// Debian 12's kernels are built without CONFIG_MODULE_DECOMPRESS, so finit_module() there
// refuses compressed modules; distributions that compress theirs (Debian 13: xz; Ubuntu,
// Fedora: zstd) need the host to do it. The format is recognised by its magic number, not
// the file name. liblzma, libzstd and zlib do the work.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace minivmm::initramfs {

enum class Compression {
    None,
    Gzip, // 1f 8b
    Xz,   // fd '7zXZ' 00
    Zstd, // 28 b5 2f fd
};

[[nodiscard]] Compression detect_compression(std::span<const uint8_t> data);
[[nodiscard]] std::string_view to_string(Compression compression);

// The decompressed bytes (the input itself when it is not compressed). Throws ConfigError
// naming `what` when the data is corrupt, truncated, or would decompress to more than
// `limit` bytes (a module is a few MiB at most; the limit stops a decompression bomb).
[[nodiscard]] std::vector<uint8_t> decompress(std::span<const uint8_t> data, std::string_view what,
                                                size_t limit);

} // namespace minivmm::initramfs
