// Making an empty qcow2 image (qcow2.txt "Header", "Header extensions", "Host cluster
// management"): everything after the header is in the clusters that follow it.
#include "backends/block/qcow2/qcow2_create.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace minivmm::backends::qcow2 {

NewImage make_empty_image(uint64_t size, uint32_t cluster_bits, const std::string& backing_file,
                          const std::string& backing_format)
{
    const uint64_t cluster = 1ULL << cluster_bits;
    const auto l1_entries = l1_entries_for(size, cluster_bits);
    if (!l1_entries || *l1_entries > kMaxL1Bytes / 8) {
        throw Qcow2FormatError(fmt::format("a virtual size of {} bytes is too large for {}-byte clusters", size, cluster));
    }
    const uint64_t l1_clusters = std::max<uint64_t>(1, (*l1_entries * 8 + cluster - 1) / cluster);
    const uint64_t clusters = 3 + l1_clusters; // header, refcount table, refcount block, L1
    if (clusters > cluster * 8 / 16) {
        throw Qcow2FormatError(
            fmt::format("a virtual size of {} bytes needs a larger L1 table than one refcount block covers", size));
    }
    NewImage image;
    image.file_size = clusters * cluster;
    // Up to the refcount block's last entry in use (16-bit refcounts, one per cluster).
    image.bytes.resize(2 * cluster + clusters * 2);
    auto b = std::span(image.bytes);
    constexpr uint32_t kHeaderLength = 112;
    std::copy(kMagic.begin(), kMagic.end(), b.begin());
    store_be32(b, 4, 3);
    store_be32(b, 20, cluster_bits);
    store_be64(b, 24, size);
    store_be32(b, 36, static_cast<uint32_t>(*l1_entries));
    store_be64(b, 40, 3 * cluster);
    store_be64(b, 48, cluster);
    store_be32(b, 56, 1);
    store_be32(b, 96, 4);
    store_be32(b, 100, kHeaderLength);
    std::size_t at = kHeaderLength;
    if (!backing_format.empty()) {
        store_be32(b, at, kExtBackingFormat);
        store_be32(b, at + 4, static_cast<uint32_t>(backing_format.size()));
        std::memcpy(b.data() + at + 8, backing_format.data(), backing_format.size());
        at += 8 + ((backing_format.size() + 7) & ~std::size_t{7});
    }
    at += 8; // end of extensions: type 0, length 0
    if (!backing_file.empty()) {
        if (backing_file.size() > kMaxBackingNameBytes || at + backing_file.size() > cluster) {
            throw Qcow2FormatError(
                fmt::format("backing file name of {} bytes does not fit in the header", backing_file.size()));
        }
        store_be64(b, 8, at);
        store_be32(b, 16, static_cast<uint32_t>(backing_file.size()));
        std::memcpy(b.data() + at, backing_file.data(), backing_file.size());
    }
    store_be64(b, cluster, 2 * cluster); // refcount table entry 0: the block in cluster 2
    for (uint64_t i = 0; i < clusters; ++i) {
        refcount_set(b.subspan(2 * cluster), 4, i, 1);
    }
    return image;
}

} // namespace minivmm::backends::qcow2
