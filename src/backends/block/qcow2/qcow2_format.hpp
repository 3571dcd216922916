// The qcow2 on-disk format (QEMU docs/interop/qcow2.txt): the header and its extensions,
// L1/L2 and refcount table entries, compressed cluster descriptors. Pure: every function
// takes bytes read from an untrusted file and either returns checked values or throws
// Qcow2FormatError saying what is wrong (one line, without the file name, which the caller
// adds). Nothing here does I/O.
//
// Supported: versions 2 and 3; cluster_bits 9..21; refcount_order 0..6; zero clusters (v3);
// compressed clusters (deflate, and zstd with the compression-type feature); internal
// snapshots (their table is parsed and left alone); the backing-format, feature-name,
// bitmaps and full-disk-encryption extensions (the last only to refuse it). Refused:
// encryption, external data files, extended L2 entries, unknown incompatible features.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace minivmm::backends::qcow2 {

class Qcow2FormatError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// How the header and metadata checks refuse an image: `what` is the one-line reason.
[[noreturn]] inline void throw_format_error(const std::string& what) { throw Qcow2FormatError(what); }

inline constexpr std::array<std::byte, 4> kMagic{std::byte{'Q'}, std::byte{'F'}, std::byte{'I'}, std::byte{0xfb}};
inline constexpr uint32_t kMinClusterBits = 9;  // 512-byte clusters
inline constexpr uint32_t kMaxClusterBits = 21; // 2 MiB: QEMU's limit, and ours
inline constexpr uint32_t kV2HeaderLength = 72;
inline constexpr uint32_t kV3MinHeaderLength = 104;
inline constexpr uint64_t kMaxL1Bytes = 32ULL << 20;       // QEMU's QCOW_MAX_L1_SIZE
inline constexpr uint64_t kMaxRefTableBytes = 8ULL << 20;  // QEMU's QCOW_MAX_REFTABLE_SIZE
inline constexpr uint32_t kMaxBackingNameBytes = 1023;
inline constexpr uint32_t kMaxSnapshots = 65536;           // QEMU's QCOW_MAX_SNAPSHOTS
inline constexpr uint64_t kMaxSnapshotTableBytes = 64ULL << 20;

// Incompatible feature bits (header bytes 72-79).
inline constexpr uint64_t kIncompatDirty = 1ULL << 0;
inline constexpr uint64_t kIncompatCorrupt = 1ULL << 1;
inline constexpr uint64_t kIncompatExternalData = 1ULL << 2;
inline constexpr uint64_t kIncompatCompressionType = 1ULL << 3;
inline constexpr uint64_t kIncompatExtendedL2 = 1ULL << 4;
// Compatible feature bits.
inline constexpr uint64_t kCompatLazyRefcounts = 1ULL << 0;

// Header extension types.
inline constexpr uint32_t kExtEnd = 0;
inline constexpr uint32_t kExtBackingFormat = 0xe2792aca;
inline constexpr uint32_t kExtFeatureNames = 0x6803f857;
inline constexpr uint32_t kExtBitmaps = 0x23852875;
inline constexpr uint32_t kExtEncryption = 0x0537be77;
inline constexpr uint32_t kExtDataFile = 0x44415441;

// Table entries.
inline constexpr uint64_t kOflagCopied = 1ULL << 63;     // L1/L2: refcount is exactly one
inline constexpr uint64_t kOflagCompressed = 1ULL << 62; // L2
inline constexpr uint64_t kOflagZero = 1ULL << 0;        // L2 standard descriptor, v3
inline constexpr uint64_t kOffsetMask = 0x00ff'ffff'ffff'fe00ULL; // bits 9-55
inline constexpr uint64_t kL1ReservedMask = 0x7f00'0000'0000'01ffULL;
inline constexpr uint64_t kL2StandardReservedMask = 0x3f00'0000'0000'01feULL;
inline constexpr uint64_t kRefTableReservedMask = 0x0000'0000'0000'01ffULL;

enum class CompressionType : uint8_t { Deflate = 0, Zstd = 1 };

// Big-endian fields.
[[nodiscard]] inline uint64_t load_be(std::span<const std::byte> bytes, std::size_t at, std::size_t width)
{
    uint64_t v = 0;
    for (std::size_t i = 0; i < width; ++i) {
        v = (v << 8) | std::to_integer<uint64_t>(bytes[at + i]);
    }
    return v;
}
// The 8- and 4-byte forms in one load and a byte swap: table walks at open and every L2
// lookup use them, entry by entry.
[[nodiscard]] inline uint64_t load_be64(std::span<const std::byte> b, std::size_t at)
{
    uint64_t v = 0;
    std::memcpy(&v, b.subspan(at, sizeof(v)).data(), sizeof(v));
    return std::endian::native == std::endian::little ? __builtin_bswap64(v) : v;
}
[[nodiscard]] inline uint32_t load_be32(std::span<const std::byte> b, std::size_t at)
{
    uint32_t v = 0;
    std::memcpy(&v, b.subspan(at, sizeof(v)).data(), sizeof(v));
    return std::endian::native == std::endian::little ? __builtin_bswap32(v) : v;
}
inline void store_be(std::span<std::byte> bytes, std::size_t at, std::size_t width, uint64_t v)
{
    for (std::size_t i = width; i > 0; --i) {
        bytes[at + i - 1] = static_cast<std::byte>(v & 0xff);
        v >>= 8;
    }
}
inline void store_be64(std::span<std::byte> b, std::size_t at, uint64_t v)
{
    v = std::endian::native == std::endian::little ? __builtin_bswap64(v) : v;
    std::memcpy(b.subspan(at, sizeof(v)).data(), &v, sizeof(v));
}
inline void store_be32(std::span<std::byte> b, std::size_t at, uint32_t v)
{
    v = std::endian::native == std::endian::little ? __builtin_bswap32(v) : v;
    std::memcpy(b.subspan(at, sizeof(v)).data(), &v, sizeof(v));
}

// Byte offsets of the header fields minivmm rewrites.
inline constexpr std::size_t kHeaderRefTableOffset = 48;
inline constexpr std::size_t kHeaderRefTableClusters = 56;
inline constexpr std::size_t kHeaderIncompatible = 72;
inline constexpr std::size_t kHeaderAutoclear = 88;

struct FeatureName {
    uint8_t type = 0; // 0 incompatible, 1 compatible, 2 autoclear
    uint8_t bit = 0;
    std::string name;
};

// The header of an image, checked in itself (the tables it points at are checked against
// the file by the image loader).
struct Header {
    uint32_t version = 0;
    uint32_t cluster_bits = 0;
    uint64_t size = 0; // virtual size in bytes
    uint32_t l1_size = 0;
    uint64_t l1_table_offset = 0;
    uint64_t refcount_table_offset = 0;
    uint32_t refcount_table_clusters = 0;
    uint32_t nb_snapshots = 0;
    uint64_t snapshots_offset = 0;
    uint64_t incompatible_features = 0;
    uint64_t compatible_features = 0;
    uint64_t autoclear_features = 0;
    uint32_t refcount_order = 4;
    uint32_t header_length = kV2HeaderLength;
    CompressionType compression = CompressionType::Deflate;
    std::optional<std::string> backing_file;   // as stored: may be relative
    std::optional<std::string> backing_format; // header extension 0xe2792aca
    std::vector<FeatureName> feature_names;
    bool has_bitmaps = false;

    [[nodiscard]] uint64_t cluster_size() const { return 1ULL << cluster_bits; }
    [[nodiscard]] uint64_t l2_entries() const { return cluster_size() / 8; }
    // Bytes of guest data one L2 table maps.
    [[nodiscard]] uint64_t l2_coverage() const { return cluster_size() * l2_entries(); }
    [[nodiscard]] uint32_t refcount_bits() const { return 1U << refcount_order; }
    [[nodiscard]] uint64_t refblock_entries() const { return cluster_size() * 8 / refcount_bits(); }
    [[nodiscard]] uint64_t refcount_table_entries() const
    {
        return uint64_t{refcount_table_clusters} * cluster_size() / 8;
    }
    // The name of an incompatible/compatible/autoclear bit from the feature name table, or "bit N".
    [[nodiscard]] std::string feature_name(uint8_t type, unsigned bit) const;
};

// Parses and checks the header and extensions from the first cluster of the file (or as
// much of it as the file holds; at least the first 512 bytes). Throws Qcow2FormatError.
// Features this implementation cannot handle at all (encryption, external data, extended
// L2, unknown incompatible bits) are refused here; dirty and corrupt images are returned
// for the caller to decide (they may still be read).
[[nodiscard]] Header parse_header(std::span<const std::byte> first_cluster);

// The L1 entries needed to map `size` bytes, or nullopt when that overflows.
[[nodiscard]] std::optional<uint64_t> l1_entries_for(uint64_t size, uint32_t cluster_bits);

// An L2 entry, decoded.
enum class ClusterKind : uint8_t {
    Unallocated, // read from the backing file, or zeros
    Zero,        // reads as zeros (v3); `host` may name a preallocated cluster
    Normal,      // data at `host`
    Compressed,  // compressed data at `host`, `compressed_bytes` long
};

struct ClusterMapping {
    ClusterKind kind = ClusterKind::Unallocated;
    uint64_t host = 0;             // cluster-aligned for Normal/Zero, a byte offset for Compressed
    uint64_t compressed_bytes = 0; // Compressed: bytes from `host` holding the compressed data
    bool copied = false;           // refcount exactly one: may be written in place
};

// Decodes an L2 entry; nullopt when reserved bits are set or an offset is misaligned
// (the caller reports the image as corrupt).
[[nodiscard]] std::optional<ClusterMapping> decode_l2_entry(uint64_t entry, uint32_t cluster_bits, uint32_t version);

// The host clusters a compressed cluster's data touches: [first, last] cluster indexes.
struct HostClusterRange {
    uint64_t first = 0;
    uint64_t last = 0;
};
[[nodiscard]] HostClusterRange compressed_host_clusters(const ClusterMapping& m, uint32_t cluster_bits);

// Refcount block entries of width 1 << order bits (order 0..6): bit 0 of a sub-byte
// entry is its least significant bit, wider entries are big-endian.
[[nodiscard]] uint64_t refcount_get(std::span<const std::byte> block, uint32_t order, uint64_t index);
void refcount_set(std::span<std::byte> block, uint32_t order, uint64_t index, uint64_t value);

// A snapshot table entry: only what is needed to keep its L1 table out of harm's way.
struct SnapshotL1 {
    uint64_t l1_table_offset = 0;
    uint32_t l1_size = 0;
};
// Parses `count` entries from the snapshot table bytes; `table_bytes` is how many bytes the
// table took (for its extent in the file). Throws Qcow2FormatError.
[[nodiscard]] std::vector<SnapshotL1> parse_snapshot_table(std::span<const std::byte> bytes, uint32_t count,
                                                           uint32_t version, uint64_t& table_bytes);

} // namespace minivmm::backends::qcow2
