// The qcow2 metadata write-back, and the order of every metadata write (STYLE.md practice 16;
// QEMU docs/interop/qcow2.txt and block/qcow2-cluster.c keep the same rules).
//
// Between write-backs, every mapping change lives in memory only: new L2 entries (set only
// after the data they point at was written), new or copied L2 tables, L1 entries, refcount
// changes, frees. The file therefore always holds the metadata of the last write-back, plus
// data in clusters that it does not reference yet. A write-back runs when the guest flushes,
// when dirty L2 tables crowd the cache, and at shutdown; one at a time. It:
//
//   0. takes, all at once and without waiting, a copy of every change so far: the refcount
//      changes (with refcount blocks for clusters no block covered yet, and a larger
//      refcount table if it is full), the dirty L2 tables, the L1 sectors changed.
//      Changes made while it runs belong to the next write-back.
//   1. writes the refcount blocks changed; clusters whose count reached 0 are punched out.
//   2. syncs: refcounts are on disk before any table that uses the clusters, and the data
//      of every write completed before step 0 is on disk before any L2 entry pointing at it.
//   3. writes the refcount table entries that point at new refcount blocks (or the whole
//      table at its new place), and syncs: a table entry never points at an unwritten block.
//   4. when the refcount table moved: rewrites the header, and syncs.
//   5. writes the dirty L2 tables.
//   6. when L1 entries changed: syncs (a new L2 table is on disk before the L1 entry that
//      points at it), then writes the L1 sectors.
//   7. syncs. The guest's FLUSH completes here.
//
// Freeing runs the other way round: an entry stops pointing at a cluster in memory; the
// cluster's refcount goes down only in a write-back after the one that wrote that change
// (Allocator::begin_round), so no refcount reaches 0 while a table on disk still uses it.
//
// A crash at any point leaves the metadata of the last complete write-back plus refcounts
// of clusters nothing points at yet: `qemu-img check` may find leaked clusters, never a
// cluster in use with too low a refcount, nor an entry pointing at unwritten metadata. The
// temporary overlay of snapshot=on is not synced (it is gone after a crash anyway).
#include "backends/block/qcow2/qcow2_image.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace minivmm::backends::qcow2 {

bool Qcow2Image::metadata_pending() const
{
    return writable_ && (allocator_.pending() || cache_.dirty_count() > 0 || !dirty_l1_.empty() || header_dirty_);
}

Task<int> Qcow2Image::sync_file()
{
    if (!durable_) {
        co_return 0;
    }
    co_return co_await io_.run(DiskOp{.kind = DiskOpKind::Flush, .offset = 0, .length = 0, .iov = {}, .fd = fd_});
}

Task<int> Qcow2Image::write_header()
{
    const iovec v{m_.header_bytes.data(), m_.header_bytes.size()};
    co_return co_await io_.run(DiskOp{
        .kind = DiskOpKind::Write, .offset = 0, .length = m_.header_bytes.size(), .iov = std::span(&v, 1), .fd = fd_});
}

Task<int> Qcow2Image::write_back()
{
    while (writing_back_) {
        co_await write_back_done_.wait();
    }
    writing_back_ = true;
    int err = 0;
    try {
        err = co_await write_back_once();
    } catch (const std::bad_alloc&) {
        err = ENOMEM;
    }
    if (err != 0 && writable_ && !failed_) {
        failed_ = true;
        log_.error("writing metadata failed: {}; further writes to this disk fail", std::strerror(err));
    }
    writing_back_ = false;
    write_back_done_.wake_all(scheduler_);
    co_return err;
}

Task<int> Qcow2Image::write_back_once()
{
    if (!writable_) {
        co_return 0;
    }
    if (failed_) {
        co_return EIO;
    }
    const uint64_t cs = h_.cluster_size();

    // 0. A consistent copy of everything changed so far.
    Allocator::Round round;
    round.number = ++rounds_;
    const uint64_t oldest_request = oldest_running();
    if (const int err = allocator_.begin_round(round, oldest_request); err != 0) {
        co_return err;
    }
    // A table stays dirty (so it is not dropped and read back stale) until it is written.
    struct TableCopy {
        uint64_t index;
        uint64_t host;
        uint64_t version;
        AlignedBuffer data;
    };
    std::vector<TableCopy> tables;
    for (const uint64_t index : cache_.dirty_indexes()) {
        const L2Cache::Table* table = cache_.find(index);
        AlignedBuffer copy(cs);
        std::memcpy(copy.data(), table->data.data(), cs);
        tables.push_back(TableCopy{index, m_.l1[index] & kOffsetMask, table->version, std::move(copy)});
    }
    std::set<uint64_t> l1_sectors;
    for (const uint64_t index : dirty_l1_) {
        l1_sectors.insert(index / 64);
    }
    dirty_l1_.clear();
    AlignedBuffer l1_copy(l1_sectors.size() * 512);
    {
        std::size_t at = 0;
        for (const uint64_t s : l1_sectors) {
            for (uint64_t i = 0; i < 64; ++i) {
                const uint64_t index = s * 64 + i;
                store_be64(l1_copy.span(), at + i * 8, index < m_.l1.size() ? m_.l1[index] : 0);
            }
            at += 512;
        }
    }
    const bool header = round.table_moved || header_dirty_;
    header_dirty_ = false;

    int err = 0;
    const auto step = [&](int e) {
        if (err == 0) {
            err = e;
        }
        return err == 0;
    };
    // 1. Refcount blocks.
    const bool refcounts = !round.deltas.empty();
    if (refcounts) {
        step(co_await allocator_.write_blocks(round));
    }
    // 2. Refcounts and data before the tables.
    if (err == 0 && (refcounts || !tables.empty() || !l1_sectors.empty())) {
        step(co_await sync_file());
    }
    // 3. Refcount table entries for new blocks, or the whole table at its new place.
    if (err == 0 && (round.table_moved || !round.table_entries.empty())) {
        if (step(co_await allocator_.write_table(round))) {
            step(co_await sync_file());
        }
    }
    // 4. The header, when the refcount table moved.
    if (err == 0 && header) {
        if (step(co_await write_header())) {
            step(co_await sync_file());
        }
    }
    // 5. L2 tables.
    if (err == 0 && !tables.empty()) {
        std::vector<iovec> vs(tables.size());
        std::vector<DiskOp> ops;
        uint64_t end = 0;
        for (std::size_t i = 0; i < tables.size(); ++i) {
            vs[i] = iovec{tables[i].data.data(), tables[i].data.size()};
            ops.push_back(DiskOp{.kind = DiskOpKind::Write,
                                 .offset = tables[i].host,
                                 .length = cs,
                                 .iov = std::span(&vs[i], 1),
                                 .fd = fd_});
            end = std::max(end, tables[i].host + cs);
        }
        if (step(co_await io_.run_all(std::move(ops)))) {
            note_written(end);
            for (const auto& t : tables) {
                L2Cache::Table* table = cache_.find(t.index);
                if (table != nullptr && table->version == t.version) {
                    table->dirty = false; // unchanged since the copy: the file has it now
                }
            }
        }
    }
    // 6. L1 entries, after the tables they point at.
    if (err == 0 && !l1_sectors.empty()) {
        step(co_await sync_file());
    }
    if (err == 0 && !l1_sectors.empty()) {
        std::vector<iovec> vs(l1_sectors.size());
        std::vector<DiskOp> ops;
        std::size_t i = 0;
        for (const uint64_t s : l1_sectors) {
            vs[i] = iovec{l1_copy.data() + i * 512, 512};
            ops.push_back(DiskOp{.kind = DiskOpKind::Write,
                                 .offset = h_.l1_table_offset + s * 512,
                                 .length = 512,
                                 .iov = std::span(&vs[i], 1),
                                 .fd = fd_});
            ++i;
        }
        step(co_await io_.run_all(std::move(ops)));
    }
    // 7. Everything durable.
    if (err == 0) {
        step(co_await sync_file());
    }
    allocator_.end_round(round, err == 0);
    cache_.shrink();
    co_return err;
}

void Qcow2Image::start_background_write_back()
{
    if (background_pending_ || !writable_ || failed_) {
        return;
    }
    background_pending_ = true;
    background_write_back();
}

Detached Qcow2Image::background_write_back()
{
    (void)co_await write_back(); // failures are logged by write_back()
    background_pending_ = false;
    write_back_done_.wake_all(scheduler_);
}

} // namespace minivmm::backends::qcow2
