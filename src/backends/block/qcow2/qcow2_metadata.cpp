// Loading and checking a qcow2 image's metadata (qcow2.txt "Header", "Host cluster
// management", "Cluster mapping", "Snapshots"), the way `qemu-img check` walks it.
#include "backends/block/qcow2/qcow2_metadata.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <span>

namespace minivmm::backends::qcow2 {

namespace {

// Past-the-end refcounts are allowed this far (QEMU may leave a refcounted tail after a
// failed preallocation); farther is a hostile or broken image, refused rather than mapped.
constexpr uint64_t kMaxClustersPastEnd = 1ULL << 20;

// The first 8-byte word of `table` at or after word `from` that is not zero (table.size() / 8
// when there is none). Tables and refcount blocks are mostly zero (the unused tail of every
// image, all of a new one): memcmp skips 512 zero bytes at a time, where a loop over the
// entries spent ~8,000 turns on each 64 KiB cluster.
uint64_t next_nonzero_word(std::span<const std::byte> table, uint64_t from)
{
    static constexpr std::array<std::byte, 512> kZeros{};
    constexpr uint64_t kRun = kZeros.size() / 8;
    const uint64_t words = table.size() / 8;
    uint64_t w = from;
    while (w < words) {
        if (w % kRun == 0 && words - w >= kRun &&
            std::memcmp(table.data() + w * 8, kZeros.data(), kZeros.size()) == 0) {
            w += kRun;
            continue;
        }
        if (load_be64(table, w * 8) != 0) {
            return w;
        }
        ++w;
    }
    return words;
}

class Loader {
public:
    Loader(ImageFile& file, bool writable, uint64_t keep_l2_bytes)
        : file_(file), writable_(writable), keep_l2_bytes_(keep_l2_bytes)
    {
    }

    Metadata load()
    {
        read_header();
        const Header& h = m_.header;
        file_clusters_ = (m_.file_size + h.cluster_size() - 1) >> h.cluster_bits;
        m_.metadata.resize(file_clusters_);
        mark(0, h.cluster_size(), "header");
        if (writable_) {
            refuse_unwritable();
        }
        load_l1();
        load_reftable();
        if (h.nb_snapshots > 0) {
            load_snapshots();
        }
        if (writable_) {
            load_refcounts();
        }
        walk_l2_tables();
        if (writable_) {
            clear_autoclear();
        }
        return std::move(m_);
    }

private:
    void read(uint64_t offset, std::span<std::byte> out, const char* what)
    {
        if (const int err = file_.read_at(offset, out); err != 0) {
            throw_format_error(fmt::format("cannot be read ({} at 0x{:x}): {}", what, offset, std::strerror(err)));
        }
    }

    void read_header()
    {
        m_.file_size = file_.size_bytes();
        std::array<std::byte, 512> first{};
        read(0, first, "header");
        const uint32_t bits = load_be32(first, 20);
        const uint64_t cluster = bits >= kMinClusterBits && bits <= kMaxClusterBits ? 1ULL << bits : 512;
        std::vector<std::byte> header(std::min<uint64_t>(cluster, std::max<uint64_t>(m_.file_size, 512)));
        read(0, header, "header");
        m_.header = parse_header(header);
        m_.header_bytes = AlignedBuffer(static_cast<std::size_t>(std::min<uint64_t>(cluster, 4096)));
        std::memcpy(m_.header_bytes.data(), header.data(), std::min(header.size(), m_.header_bytes.size()));
    }

    void refuse_unwritable() const
    {
        const Header& h = m_.header;
        if ((h.incompatible_features & kIncompatDirty) != 0) {
            throw_format_error(
                "is dirty: it was not closed cleanly while using lazy refcounts, so its refcounts cannot be "
                "trusted for writing (qemu-img check -r all repairs it; readonly=on or snapshot=on can use it as is)");
        }
        if ((h.incompatible_features & kIncompatCorrupt) != 0) {
            throw_format_error(
                "is marked corrupt (qemu-img check -r all repairs it; readonly=on or snapshot=on can read it)");
        }
    }

    // Checks [offset, offset + bytes) lies in the file past the header, and claims its
    // clusters as metadata: overlapping metadata already claimed is an error.
    void mark(uint64_t offset, uint64_t bytes, const std::string& what)
    {
        const Header& h = m_.header;
        if (offset > m_.file_size || bytes > m_.file_size - offset) {
            throw_format_error(fmt::format("has its {} at 0x{:x}+{} past the end of the file ({} bytes)", what, offset,
                                           bytes, m_.file_size));
        }
        const uint64_t first = offset >> h.cluster_bits;
        const uint64_t end = (offset + bytes + h.cluster_size() - 1) >> h.cluster_bits;
        for (uint64_t c = first; c < end; ++c) {
            if (m_.metadata.test(c)) {
                throw_format_error(fmt::format("has its {} at 0x{:x} overlapping other metadata (cluster 0x{:x})", what,
                                               offset, c << h.cluster_bits));
            }
            m_.metadata.set(c);
        }
    }

    std::vector<uint64_t> read_table(uint64_t offset, uint64_t entries, const char* what)
    {
        std::vector<uint64_t> table(entries);
        const auto bytes = std::as_writable_bytes(std::span(table));
        read(offset, bytes, what);
        // In place: entry i is read before it is written; zero entries stay as they are.
        for (uint64_t i = next_nonzero_word(bytes, 0); i < entries; i = next_nonzero_word(bytes, i + 1)) {
            table[i] = load_be64(bytes, i * 8);
        }
        return table;
    }

    void load_l1()
    {
        const Header& h = m_.header;
        if (h.l1_size == 0) {
            return;
        }
        mark(h.l1_table_offset, uint64_t{h.l1_size} * 8, "L1 table");
        m_.l1 = read_table(h.l1_table_offset, h.l1_size, "L1 table");
        const auto l1_bytes = std::as_bytes(std::span(m_.l1));
        for (uint64_t i = next_nonzero_word(l1_bytes, 0); i < m_.l1.size(); i = next_nonzero_word(l1_bytes, i + 1)) {
            const uint64_t e = m_.l1[i];
            const uint64_t offset = e & kOffsetMask;
            if ((e & kL1ReservedMask) != 0 || (offset & (h.cluster_size() - 1)) != 0) {
                throw_format_error(fmt::format("has an invalid L1 entry {} (0x{:016x})", i, e));
            }
            if (offset == 0) {
                if ((e & kOflagCopied) != 0) {
                    throw_format_error(fmt::format("has an invalid L1 entry {} (0x{:016x})", i, e));
                }
                continue;
            }
            mark(offset, h.cluster_size(), fmt::format("L2 table {}", i));
        }
    }

    void load_reftable()
    {
        const Header& h = m_.header;
        mark(h.refcount_table_offset, uint64_t{h.refcount_table_clusters} * h.cluster_size(), "refcount table");
        m_.reftable = read_table(h.refcount_table_offset, h.refcount_table_entries(), "refcount table");
        const auto reftable_bytes = std::as_bytes(std::span(m_.reftable));
        for (uint64_t i = next_nonzero_word(reftable_bytes, 0); i < m_.reftable.size();
             i = next_nonzero_word(reftable_bytes, i + 1)) {
            const uint64_t e = m_.reftable[i];
            if ((e & kRefTableReservedMask) != 0 || (e & (h.cluster_size() - 1)) != 0) {
                throw_format_error(fmt::format("has an invalid refcount table entry {} (0x{:016x})", i, e));
            }
            if (e != 0) {
                mark(e, h.cluster_size(), fmt::format("refcount block {}", i));
            }
        }
    }

    void load_snapshots()
    {
        const Header& h = m_.header;
        if (h.snapshots_offset >= m_.file_size) {
            throw_format_error(
                fmt::format("has its snapshot table at 0x{:x}, past the end of the file", h.snapshots_offset));
        }
        const uint64_t available = std::min(m_.file_size - h.snapshots_offset, kMaxSnapshotTableBytes);
        uint64_t chunk = std::min<uint64_t>(available, 64 * 1024);
        std::vector<SnapshotL1> snapshots;
        uint64_t table_bytes = 0;
        for (;;) {
            std::vector<std::byte> bytes(chunk);
            read(h.snapshots_offset, bytes, "snapshot table");
            try {
                snapshots = parse_snapshot_table(bytes, h.nb_snapshots, h.version, table_bytes);
                break;
            } catch (const Qcow2FormatError&) {
                if (chunk == available) {
                    throw;
                }
                chunk = std::min(available, chunk * 4);
            }
        }
        mark(h.snapshots_offset, table_bytes, "snapshot table");
        for (std::size_t i = 0; i < snapshots.size(); ++i) {
            const auto& s = snapshots[i];
            if (uint64_t{s.l1_size} > kMaxL1Bytes / 8 || (s.l1_table_offset & (h.cluster_size() - 1)) != 0 ||
                (s.l1_size > 0 && s.l1_table_offset == 0)) {
                throw_format_error(fmt::format("has snapshot {} with an L1 table of {} entries at 0x{:x}", i, s.l1_size,
                                               s.l1_table_offset));
            }
            if (s.l1_size > 0) {
                mark(s.l1_table_offset, uint64_t{s.l1_size} * 8, fmt::format("L1 table of snapshot {}", i));
            }
        }
    }

    void load_refcounts()
    {
        const Header& h = m_.header;
        m_.used.resize(file_clusters_);
        one_.resize(file_clusters_);
        room_.assign(file_clusters_, 0);
        AlignedBuffer block(h.cluster_size());
        uint64_t last_used = 0;
        bool any = false;
        const uint64_t entries = h.refblock_entries();
        const uint64_t per_word = 64 >> h.refcount_order; // entries in 8 bytes (order <= 6)
        const auto reftable_bytes = std::as_bytes(std::span(m_.reftable));
        for (uint64_t t = next_nonzero_word(reftable_bytes, 0); t < m_.reftable.size();
             t = next_nonzero_word(reftable_bytes, t + 1)) {
            read(m_.reftable[t], block.span(), "refcount block");
            // Most of a block is usually free (the last one of every image): only the words
            // that are not zero are looked at, entry by entry.
            for (uint64_t w = next_nonzero_word(block.span(), 0); w < entries / per_word;
                 w = next_nonzero_word(block.span(), w + 1)) {
                for (uint64_t i = w * per_word; i < (w + 1) * per_word; ++i) {
                    const uint64_t v = refcount_get(block.span(), h.refcount_order, i);
                    if (v == 0) {
                        continue;
                    }
                    const uint64_t c = t * entries + i;
                    if (c >= file_clusters_ + kMaxClustersPastEnd) {
                        throw_format_error(fmt::format(
                            "has a refcount for cluster 0x{:x}, far past the end of the file", c << h.cluster_bits));
                    }
                    m_.used.set(c);
                    if (v == 1) {
                        one_.set(c);
                    }
                    if (c < file_clusters_) {
                        room_[c] = static_cast<uint16_t>(std::min<uint64_t>(v, kUncounted));
                    }
                    last_used = c;
                    any = true;
                }
            }
        }
        m_.allocation_end = std::max(file_clusters_, any ? last_used + 1 : 0);
        // Every metadata cluster must be in use: else allocation could hand it out again.
        for (uint64_t c = m_.metadata.find_set(0); c < m_.metadata.size(); c = m_.metadata.find_set(c + 1)) {
            if (!m_.used.test(c)) {
                throw_format_error(
                    fmt::format("has metadata at 0x{:x} whose refcount is 0 (qemu-img check -r all repairs it)",
                                c << h.cluster_bits));
            }
        }
    }

    void check_data_cluster(uint64_t l1_index, uint64_t l2_index, const ClusterMapping& m)
    {
        const Header& h = m_.header;
        const auto where = [&] { return fmt::format("guest offset 0x{:x}", (l1_index * h.l2_entries() + l2_index) << h.cluster_bits); };
        if (m.kind == ClusterKind::Compressed) {
            if (m.host < h.cluster_size() || m.host >= m_.file_size) {
                throw_format_error(
                    fmt::format("maps {} to compressed data at 0x{:x}, outside the file", where(), m.host));
            }
            // Compressed data shares its host clusters with other compressed data, never with
            // metadata: a refcount block or table there would be overwritten by the guest's
            // data, and its refcount (counted for the compressed clusters only) dropped to 0
            // by the copy-on-writes that free them, so allocation would hand it out again.
            const auto range = compressed_host_clusters(m, h.cluster_bits);
            for (uint64_t c = range.first; c <= range.last && c < file_clusters_; ++c) {
                if (m_.metadata.test(c)) {
                    throw_format_error(
                        fmt::format("maps {} to compressed data at 0x{:x} in cluster 0x{:x}, which holds metadata",
                                    where(), m.host, c << h.cluster_bits));
                }
            }
            if (writable_) {
                for (uint64_t c = range.first; c <= range.last && c < file_clusters_; ++c) {
                    if (!m_.used.test(c)) {
                        throw_format_error(
                            fmt::format("maps {} to compressed data at 0x{:x} whose refcount is 0", where(), m.host));
                    }
                    if (!take_reference(c)) {
                        throw_format_error(
                            fmt::format("maps {} to compressed data at 0x{:x} in cluster 0x{:x}, which more guest "
                                        "clusters use than its refcount says (qemu-img check -r all repairs it)",
                                        where(), m.host, c << h.cluster_bits));
                    }
                }
            }
            return;
        }
        if (m.host == 0) {
            return; // unallocated, or a zero cluster without preallocation
        }
        const uint64_t c = m.host >> h.cluster_bits;
        if (m.host > m_.file_size || h.cluster_size() > m_.file_size - m.host) {
            throw_format_error(
                fmt::format("maps {} to 0x{:x}, past the end of the file (truncated?)", where(), m.host));
        }
        if (m_.metadata.test(c)) {
            throw_format_error(fmt::format("maps {} to 0x{:x}, which holds metadata", where(), m.host));
        }
        if (!writable_) {
            return;
        }
        if (!m_.used.test(c)) {
            throw_format_error(fmt::format("maps {} to 0x{:x} whose refcount is 0 (qemu-img check -r all repairs it)",
                                           where(), m.host));
        }
        if (m.copied) {
            if (!one_.test(c)) {
                throw_format_error(
                    fmt::format("maps {} to 0x{:x} as unshared (COPIED) but its refcount is not 1", where(), m.host));
            }
            if (seen_.test(c)) {
                throw_format_error(
                    fmt::format("maps {} to 0x{:x}, which another guest cluster uses too", where(), m.host));
            }
            seen_.set(c);
        }
        if (!take_reference(c)) {
            throw_format_error(
                fmt::format("maps {} to 0x{:x}, which more guest clusters use than its refcount says (qemu-img "
                            "check -r all repairs it)",
                            where(), m.host));
        }
    }

    // Counts one more reference to data cluster `c`; false when its refcount has none left.
    // Writing would otherwise free a cluster that another guest cluster still maps (a
    // copy-on-write drops one reference per write), and hand it out again.
    bool take_reference(uint64_t c)
    {
        if (room_[c] == 0) {
            return false;
        }
        if (room_[c] != kUncounted) {
            --room_[c];
        }
        return true;
    }

    void walk_l2_tables()
    {
        const Header& h = m_.header;
        seen_.resize(writable_ ? file_clusters_ : 0);
        AlignedBuffer table(h.cluster_size());
        uint64_t kept = 0;
        for (uint64_t i = 0; i < m_.l1.size(); ++i) {
            const uint64_t offset = m_.l1[i] & kOffsetMask;
            if (offset == 0) {
                continue;
            }
            if (writable_ && (m_.l1[i] & kOflagCopied) != 0 && !one_.test(offset >> h.cluster_bits)) {
                throw_format_error(fmt::format(
                    "has L2 table {} at 0x{:x} marked unshared (COPIED) but its refcount is not 1", i, offset));
            }
            read(offset, table.span(), "L2 table");
            // Zero entries are unallocated: nothing to check (most entries of a new image).
            for (uint64_t j = next_nonzero_word(table.span(), 0); j < h.l2_entries();
                 j = next_nonzero_word(table.span(), j + 1)) {
                const uint64_t e = load_be64(table.span(), j * 8);
                const auto m = decode_l2_entry(e, h.cluster_bits, h.version);
                if (!m) {
                    throw_format_error(
                        fmt::format("has an invalid entry {} (0x{:016x}) in L2 table {} at 0x{:x}", j, e, i, offset));
                }
                check_data_cluster(i, j, *m);
            }
            if (kept + h.cluster_size() <= keep_l2_bytes_) {
                kept += h.cluster_size();
                AlignedBuffer copy(h.cluster_size());
                std::memcpy(copy.data(), table.data(), table.size());
                m_.l2_tables.emplace_back(i, std::move(copy));
            }
        }
    }

    void clear_autoclear()
    {
        Header& h = m_.header;
        if (h.autoclear_features == 0) {
            return;
        }
        // qcow2.txt: a writer that does not maintain an autoclear feature (the bitmaps) must
        // clear its bit before writing, marking that data inconsistent.
        h.autoclear_features = 0;
        store_be64(m_.header_bytes.span(), kHeaderAutoclear, 0);
        if (const int err = file_.write_at(0, m_.header_bytes.span()); err != 0) {
            throw_format_error(
                fmt::format("cannot be written (clearing the autoclear features): {}", std::strerror(err)));
        }
        if (const int err = file_.sync(); err != 0) {
            throw_format_error(fmt::format("cannot be synced: {}", std::strerror(err)));
        }
    }

    ImageFile& file_;
    bool writable_;
    uint64_t keep_l2_bytes_;
    Metadata m_;
    uint64_t file_clusters_ = 0;
    ClusterBitmap one_;  // writable: refcount exactly 1
    ClusterBitmap seen_; // writable: data clusters referenced as COPIED so far
    // Writable: references a data cluster's refcount still allows (refcount minus the L2
    // entries seen so far). 2 bytes per cluster of the file, only while opening; refcounts
    // from kUncounted up are not counted (more copy-on-writes than one run of a VM makes).
    static constexpr uint16_t kUncounted = 0xffff;
    std::vector<uint16_t> room_;
};

} // namespace

Metadata load_metadata(ImageFile& file, bool writable, uint64_t keep_l2_bytes)
{
    return Loader(file, writable, keep_l2_bytes).load();
}

} // namespace minivmm::backends::qcow2
