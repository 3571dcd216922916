// A new, empty qcow2 image (version 3, refcount order 4): what snapshot=on puts on top of
// the disk's image.
#pragma once

#include "backends/block/qcow2/qcow2_format.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace minivmm::backends::qcow2 {

// A new, empty image of `size` bytes with clusters of 1 << cluster_bits: the header cluster,
// then the refcount table, one refcount block and the L1 table. The backing file name and
// format are stored when not empty. Throws Qcow2FormatError.
struct NewImage {
    std::vector<std::byte> bytes; // the start of the file: all of it that is not zero
    uint64_t file_size = 0;       // the file's length: zeros from bytes.size() on (the L1 table, the rest
                                  // of the refcount block), left to a hole rather than written
};
[[nodiscard]] NewImage make_empty_image(uint64_t size, uint32_t cluster_bits, const std::string& backing_file,
                                        const std::string& backing_format);

} // namespace minivmm::backends::qcow2
