// Compressed clusters (qcow2.txt "Compressed Clusters Descriptor", header field
// compression_type): raw deflate (zlib, window of 4 KiB, no header) or zstd frames. A
// cluster decompresses to exactly one cluster of data; anything else is an error.
#pragma once

#include "backends/block/qcow2/qcow2_format.hpp"

#include <cstddef>
#include <span>

namespace minivmm::backends::qcow2 {

// Fills all of `out` from `in`; false when `in` is not a valid compressed cluster of that size.
[[nodiscard]] bool decompress_cluster(CompressionType type, std::span<const std::byte> in, std::span<std::byte> out);

} // namespace minivmm::backends::qcow2
