// A new, empty qcow2 image (version 3, refcount order 4): what snapshot=on puts on top of
// the disk's image.
#pragma once

#include "backends/block/qcow2/qcow2_format.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace minivmm::backends::qcow2 {

// The bytes of a new, empty image of `size` bytes with clusters of 1 << cluster_bits: the
// header cluster, then the refcount table, one refcount block and the L1 table. The backing
// file name and format are stored when not empty. Throws Qcow2FormatError.
struct NewImage {
    std::vector<std::byte> bytes; // the whole initial file
};
[[nodiscard]] NewImage make_empty_image(uint64_t size, uint32_t cluster_bits, const std::string& backing_file,
                                        const std::string& backing_format);

} // namespace minivmm::backends::qcow2
