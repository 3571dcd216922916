// Parsing and checking the qcow2 header, its extensions, table entries and the snapshot
// table (QEMU docs/interop/qcow2.txt, sections "Header", "Header extensions", "Host
// cluster management", "Cluster mapping", "Snapshots").
#include "backends/block/qcow2/qcow2_format.hpp"

#include "memory/byte_span.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string_view>

namespace minivmm::backends::qcow2 {

namespace {

bool aligned(uint64_t offset, uint32_t cluster_bits) { return (offset & ((1ULL << cluster_bits) - 1)) == 0; }

// Header bytes 72..: incompatible features this implementation refuses, by bit.
struct Refused {
    uint64_t bit;
    const char* what;
};
constexpr std::array<Refused, 2> kRefusedFeatures{{
    {kIncompatExternalData, "an external data file (incompatible feature 'external data file')"},
    {kIncompatExtendedL2, "extended L2 entries (subclusters, incompatible feature 'extended L2')"},
}};
constexpr uint64_t kKnownIncompatible =
    kIncompatDirty | kIncompatCorrupt | kIncompatExternalData | kIncompatCompressionType | kIncompatExtendedL2;

void parse_extensions(std::span<const std::byte> bytes, std::size_t start, std::size_t end, Header& h)
{
    bool seen_backing_format = false;
    bool seen_feature_names = false;
    std::size_t at = start;
    while (at + 8 <= end) {
        const uint32_t type = load_be32(bytes, at);
        const uint32_t len = load_be32(bytes, at + 4);
        at += 8;
        if (type == kExtEnd) {
            return;
        }
        if (len > end - at) {
            throw_format_error(
                fmt::format("has a header extension 0x{:08x} of {} bytes that runs past the header area", type, len));
        }
        const auto data = bytes.subspan(at, len);
        switch (type) {
        case kExtBackingFormat:
            if (seen_backing_format) {
                throw_format_error("has two backing-format header extensions");
            }
            seen_backing_format = true;
            if (len == 0 || len > 15) {
                throw_format_error(fmt::format("has a backing-format header extension of {} bytes (1 to 15)", len));
            }
            h.backing_format.emplace(memory::as_chars(data));
            if (h.backing_format->find('\0') != std::string::npos) {
                throw_format_error("has a backing-format header extension holding a NUL byte");
            }
            break;
        case kExtFeatureNames:
            if (seen_feature_names) {
                throw_format_error("has two feature-name header extensions");
            }
            seen_feature_names = true;
            for (std::size_t e = 0; e + 48 <= len; e += 48) {
                FeatureName f;
                f.type = std::to_integer<uint8_t>(data[e]);
                f.bit = std::to_integer<uint8_t>(data[e + 1]);
                const std::string_view name = memory::as_chars(data.subspan(e + 2, 46));
                f.name.assign(name.substr(0, name.find('\0')));
                h.feature_names.push_back(std::move(f));
            }
            break;
        case kExtBitmaps: h.has_bitmaps = true; break;
        case kExtEncryption:
            throw_format_error("has an encryption header extension (encrypted images are not supported)");
        case kExtDataFile:
            throw_format_error("has an external data file name (external data files are not supported)");
        default: break; // unknown extensions can be ignored (and are kept: the header is never rewritten whole)
        }
        const std::size_t padded = (std::size_t{len} + 7) & ~std::size_t{7};
        if (padded > end - at) {
            return; // the last extension's padding may be cut by the end of the area
        }
        at += padded;
    }
}

void check_features(const Header& h)
{
    const uint64_t unknown = h.incompatible_features & ~kKnownIncompatible;
    if (unknown != 0) {
        std::string names;
        for (unsigned bit = 0; bit < 64; ++bit) {
            if ((unknown >> bit) & 1) {
                names += (names.empty() ? "" : ", ") + h.feature_name(0, bit);
            }
        }
        throw_format_error(fmt::format("uses incompatible features minivmm does not know: {}", names));
    }
    for (const auto& r : kRefusedFeatures) {
        if ((h.incompatible_features & r.bit) != 0) {
            throw_format_error(fmt::format("uses {}, which minivmm does not support", r.what));
        }
    }
}

} // namespace

std::string Header::feature_name(uint8_t type, unsigned bit) const
{
    for (const auto& f : feature_names) {
        if (f.type == type && f.bit == bit && !f.name.empty()) {
            return fmt::format("'{}' (bit {})", f.name, bit);
        }
    }
    return fmt::format("bit {}", bit);
}

std::optional<uint64_t> l1_entries_for(uint64_t size, uint32_t cluster_bits)
{
    const uint32_t shift = cluster_bits + (cluster_bits - 3); // bytes one L2 table maps
    if (shift >= 64) {
        return size == 0 ? 0 : 1;
    }
    const uint64_t coverage = 1ULL << shift;
    return size / coverage + (size % coverage != 0 ? 1 : 0);
}

Header parse_header(std::span<const std::byte> b)
{
    if (b.size() < kV2HeaderLength) {
        throw_format_error(fmt::format("is {} bytes long, shorter than a qcow2 header", b.size()));
    }
    if (!std::equal(kMagic.begin(), kMagic.end(), b.begin())) {
        throw_format_error("has no qcow2 magic");
    }
    Header h;
    h.version = load_be32(b, 4);
    if (h.version == 1) {
        throw_format_error(
            "is a qcow version 1 image, which minivmm does not support (qemu-img convert -O qcow2 makes a v3 image)");
    }
    if (h.version != 2 && h.version != 3) {
        throw_format_error(fmt::format("has qcow2 version {} (2 and 3 are supported)", h.version));
    }
    const uint64_t backing_offset = load_be64(b, 8);
    const uint32_t backing_size = load_be32(b, 16);
    h.cluster_bits = load_be32(b, 20);
    if (h.cluster_bits < kMinClusterBits || h.cluster_bits > kMaxClusterBits) {
        throw_format_error(
            fmt::format("has cluster_bits {} (9 to 21: clusters of 512 bytes to 2 MiB)", h.cluster_bits));
    }
    h.size = load_be64(b, 24);
    const uint32_t crypt_method = load_be32(b, 32);
    h.l1_size = load_be32(b, 36);
    h.l1_table_offset = load_be64(b, 40);
    h.refcount_table_offset = load_be64(b, 48);
    h.refcount_table_clusters = load_be32(b, 56);
    h.nb_snapshots = load_be32(b, 60);
    h.snapshots_offset = load_be64(b, 64);
    if (crypt_method != 0) {
        throw_format_error(fmt::format("is encrypted ({}), which minivmm does not support",
                                       crypt_method == 1   ? "AES"
                                       : crypt_method == 2 ? "LUKS"
                                                           : fmt::format("method {}", crypt_method)));
    }

    if (h.version == 3) {
        if (b.size() < kV3MinHeaderLength) {
            throw_format_error(fmt::format("is {} bytes long, shorter than a version 3 header", b.size()));
        }
        h.incompatible_features = load_be64(b, 72);
        h.compatible_features = load_be64(b, 80);
        h.autoclear_features = load_be64(b, 88);
        h.refcount_order = load_be32(b, 96);
        h.header_length = load_be32(b, 100);
        if (h.header_length < kV3MinHeaderLength || h.header_length % 8 != 0 || h.header_length > h.cluster_size()) {
            throw_format_error(fmt::format(
                "has header_length {} (a multiple of 8, at least 104, within the first cluster)", h.header_length));
        }
        if (h.header_length > b.size()) {
            throw_format_error(fmt::format("is shorter than its header_length of {} bytes", h.header_length));
        }
        if (h.refcount_order > 6) {
            throw_format_error(fmt::format("has refcount_order {} (at most 6: 64-bit refcounts)", h.refcount_order));
        }
        const uint8_t compression = h.header_length > 104 ? std::to_integer<uint8_t>(b[104]) : 0;
        if ((h.incompatible_features & kIncompatCompressionType) != 0) {
            if (compression == 0 || compression > 1) {
                throw_format_error(fmt::format(
                    "has compression type {} (1, zstd, goes with the compression-type feature)", compression));
            }
            h.compression = CompressionType::Zstd;
        } else if (compression != 0) {
            throw_format_error(
                fmt::format("has compression type {} without the compression-type feature", compression));
        }
    }
    check_features(h);

    // The L1 table must map the whole disk, and stay within QEMU's (and our) bound.
    const auto needed = l1_entries_for(h.size, h.cluster_bits);
    if (!needed || *needed > kMaxL1Bytes / 8 || h.size > (1ULL << 62)) {
        throw_format_error(
            fmt::format("has a virtual size of {} bytes, too large for {}-byte clusters", h.size, h.cluster_size()));
    }
    if (h.l1_size < *needed) {
        throw_format_error(
            fmt::format("has an L1 table of {} entries, too small for its virtual size of {} bytes ({} needed)",
                        h.l1_size, h.size, *needed));
    }
    if (uint64_t{h.l1_size} > kMaxL1Bytes / 8) {
        throw_format_error(fmt::format("has an L1 table of {} entries (at most {})", h.l1_size, kMaxL1Bytes / 8));
    }
    if (h.l1_size > 0 && (h.l1_table_offset == 0 || !aligned(h.l1_table_offset, h.cluster_bits))) {
        throw_format_error(
            fmt::format("has its L1 table at 0x{:x}, not a cluster boundary past the header", h.l1_table_offset));
    }
    if (h.refcount_table_offset == 0 || !aligned(h.refcount_table_offset, h.cluster_bits)) {
        throw_format_error(fmt::format("has its refcount table at 0x{:x}, not a cluster boundary past the header",
                                       h.refcount_table_offset));
    }
    if (h.refcount_table_clusters == 0 ||
        uint64_t{h.refcount_table_clusters} * h.cluster_size() > kMaxRefTableBytes) {
        throw_format_error(fmt::format("has a refcount table of {} clusters (1 to {} bytes)", h.refcount_table_clusters,
                                       kMaxRefTableBytes));
    }
    if (h.nb_snapshots > kMaxSnapshots) {
        throw_format_error(fmt::format("has {} snapshots (at most {})", h.nb_snapshots, kMaxSnapshots));
    }
    if (h.nb_snapshots > 0 && (h.snapshots_offset == 0 || !aligned(h.snapshots_offset, h.cluster_bits))) {
        throw_format_error(fmt::format("has its snapshot table at 0x{:x}, not a cluster boundary past the header",
                                       h.snapshots_offset));
    }

    // Extensions run from the end of the header to the backing file name (or the cluster end).
    const std::size_t area_end =
        static_cast<std::size_t>(std::min<uint64_t>({b.size(), h.cluster_size(),
                                                     backing_offset != 0 ? backing_offset : UINT64_MAX}));
    const std::size_t ext_start = h.version == 2 ? kV2HeaderLength : h.header_length;
    if (backing_offset != 0) {
        if (backing_size == 0 || backing_size > kMaxBackingNameBytes) {
            throw_format_error(
                fmt::format("has a backing file name of {} bytes (1 to {})", backing_size, kMaxBackingNameBytes));
        }
        // Both sums could wrap: the offset is any 64-bit value.
        const uint64_t limit = std::min<uint64_t>(h.cluster_size(), b.size());
        if (backing_offset < ext_start || backing_offset > limit || backing_size > limit - backing_offset) {
            throw_format_error(fmt::format("has its backing file name at 0x{:x}+{}, outside the header cluster",
                                           backing_offset, backing_size));
        }
        h.backing_file.emplace(memory::as_chars(b.subspan(backing_offset, backing_size)));
        if (h.backing_file->find('\0') != std::string::npos) {
            throw_format_error("has a backing file name holding a NUL byte");
        }
    }
    if (ext_start < area_end) {
        parse_extensions(b, ext_start, area_end, h);
    }
    if (h.backing_format && !h.backing_file) {
        h.backing_format.reset(); // meaningless without a backing file (QEMU ignores it too)
    }
    return h;
}

std::optional<ClusterMapping> decode_l2_entry(uint64_t entry, uint32_t cluster_bits, uint32_t version)
{
    ClusterMapping m;
    if ((entry & kOflagCompressed) != 0) {
        if ((entry & kOflagCopied) != 0) {
            return std::nullopt;
        }
        const uint32_t x = 62 - (cluster_bits - 8);
        const uint64_t offset = entry & ((1ULL << x) - 1);
        const uint64_t sectors = ((entry & ~(kOflagCopied | kOflagCompressed)) >> x) + 1;
        if ((offset >> 56) != 0 || offset == 0) {
            return std::nullopt;
        }
        m.kind = ClusterKind::Compressed;
        m.host = offset;
        m.compressed_bytes = sectors * 512 - (offset & 511);
        return m;
    }
    if ((entry & kL2StandardReservedMask) != 0) {
        return std::nullopt;
    }
    const uint64_t host = entry & kOffsetMask;
    if (!aligned(host, cluster_bits)) {
        return std::nullopt;
    }
    m.host = host;
    m.copied = (entry & kOflagCopied) != 0;
    if ((entry & kOflagZero) != 0) {
        if (version < 3) {
            return std::nullopt;
        }
        m.kind = ClusterKind::Zero;
        if (host == 0 && m.copied) {
            return std::nullopt;
        }
        return m;
    }
    if (host == 0) {
        if (m.copied) {
            return std::nullopt; // offset 0 with COPIED means an external data file
        }
        m.kind = ClusterKind::Unallocated;
        return m;
    }
    m.kind = ClusterKind::Normal;
    return m;
}

HostClusterRange compressed_host_clusters(const ClusterMapping& m, uint32_t cluster_bits)
{
    return {m.host >> cluster_bits, (m.host + m.compressed_bytes - 1) >> cluster_bits};
}

uint64_t refcount_get(std::span<const std::byte> block, uint32_t order, uint64_t index)
{
    if (order < 3) {
        const uint32_t bits = 1U << order;
        const uint64_t per_byte = 8 / bits;
        const auto byte = std::to_integer<uint64_t>(block[index / per_byte]);
        return (byte >> ((index % per_byte) * bits)) & ((1ULL << bits) - 1);
    }
    const std::size_t width = std::size_t{1} << (order - 3);
    return load_be(block, index * width, width);
}

void refcount_set(std::span<std::byte> block, uint32_t order, uint64_t index, uint64_t value)
{
    if (order < 3) {
        const uint32_t bits = 1U << order;
        const uint64_t per_byte = 8 / bits;
        const uint64_t shift = (index % per_byte) * bits;
        const uint64_t mask = ((1ULL << bits) - 1) << shift;
        auto& byte = block[index / per_byte];
        byte = static_cast<std::byte>((std::to_integer<uint64_t>(byte) & ~mask) | ((value << shift) & mask));
        return;
    }
    const std::size_t width = std::size_t{1} << (order - 3);
    store_be(block, index * width, width, value);
}

std::vector<SnapshotL1> parse_snapshot_table(std::span<const std::byte> bytes, uint32_t count, uint32_t version,
                                             uint64_t& table_bytes)
{
    std::vector<SnapshotL1> out;
    out.reserve(std::min<uint32_t>(count, 1024));
    std::size_t at = 0;
    for (uint32_t i = 0; i < count; ++i) {
        if (bytes.size() - at < 40) {
            throw_format_error(fmt::format("has a snapshot table that ends inside entry {}", i));
        }
        SnapshotL1 s;
        s.l1_table_offset = load_be64(bytes, at);
        s.l1_size = load_be32(bytes, at + 8);
        const uint64_t id_size = load_be(bytes, at + 12, 2);
        const uint64_t name_size = load_be(bytes, at + 14, 2);
        const uint64_t extra_size = load_be32(bytes, at + 36);
        if (version >= 3 && extra_size < 16) {
            throw_format_error(
                fmt::format("has snapshot {} with {} bytes of extra data (version 3 needs 16)", i, extra_size));
        }
        // The last entry's padding may be cut off by the end of the file (QEMU writes it so).
        const uint64_t entry = 40 + extra_size + id_size + name_size;
        if (entry > bytes.size() - at) {
            throw_format_error(fmt::format("has a snapshot table that ends inside entry {}", i));
        }
        out.push_back(s);
        at += std::min<uint64_t>((entry + 7) & ~uint64_t{7}, bytes.size() - at);
    }
    table_bytes = at;
    return out;
}

} // namespace minivmm::backends::qcow2
