// Opening a qcow2 file: the header, the active L1 table, the refcount table, the snapshot
// table, and one pass over every L2 table (and, for a writable image, every refcount block)
// that checks each offset, size and count against the file and against each other before
// anything is used: tables inside the file, off the header and not overlapping, entries
// well-formed, data clusters inside the file and off the metadata, and (writable) every
// cluster in use refcounted, the COPIED flag true. A bad image is one Qcow2FormatError line.
//
// What it costs: reading the L2 tables and refcount blocks, about 1/8192 and 1/32768 of a
// 64 KiB-cluster image, once; the L2 tables read are kept for the cache as far as they fit.
#pragma once

#include "backends/block/aligned_buffer.hpp"
#include "backends/block/image_file.hpp"
#include "backends/block/qcow2/cluster_bitmap.hpp"
#include "backends/block/qcow2/qcow2_format.hpp"

#include <cstdint>
#include <utility>
#include <vector>

namespace minivmm::backends::qcow2 {

struct Metadata {
    Header header;
    uint64_t file_size = 0;
    std::vector<uint64_t> l1;       // the active L1 table, as on disk
    std::vector<uint64_t> reftable; // the refcount table, as on disk
    // The first min(cluster size, 4096) bytes of the file: rewritten in place when a header
    // field changes (the refcount table moves, an autoclear bit is cleared).
    AlignedBuffer header_bytes;
    // Clusters holding the header, L1, refcount table and blocks, active L2 tables and the
    // snapshot table and L1 tables: a guest's data never goes there.
    ClusterBitmap metadata;
    // Writable images: clusters whose refcount is not 0; allocation takes clusters from
    // neither this nor past `allocation_floor`'s bound.
    ClusterBitmap used;
    // One past the last cluster that has a refcount, or the end of the file if that is later:
    // where appending starts.
    uint64_t allocation_end = 0;
    // L2 tables read while checking, by L1 index, for the cache to start with.
    std::vector<std::pair<uint64_t, AlignedBuffer>> l2_tables;
};

// Reads and checks `file` as qcow2. `writable`: the image will be written, so dirty and
// corrupt images are refused, refcounts are checked, and autoclear feature bits (which a
// writer that does not maintain them must clear, qcow2.txt "autoclear_features") are cleared
// in the file. At most `keep_l2_bytes` of L2 tables are kept. Throws Qcow2FormatError.
[[nodiscard]] Metadata load_metadata(ImageFile& file, bool writable, uint64_t keep_l2_bytes);

} // namespace minivmm::backends::qcow2
