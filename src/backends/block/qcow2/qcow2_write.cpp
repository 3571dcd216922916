// qcow2 writes: in place where the cluster is this image's alone (COPIED), else into newly
// allocated clusters, filling what the write does not cover from the cluster's old contents
// (backing file, zeros, compressed data or a shared cluster: copy-on-write), in one write per
// run of clusters. The L2 entries change only after the data write completed (data before
// the entry that points to it), in memory; write_back() takes them to the file.
#include "backends/block/qcow2/qcow2_image.hpp"

#include "backends/block/iov_range.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace minivmm::backends::qcow2 {

bool Qcow2Image::cluster_range_locked(uint64_t first, uint64_t end) const
{
    return std::any_of(locked_.begin(), locked_.end(),
                       [&](const auto& r) { return r.first < end && first < r.second; });
}

Task<Qcow2Image::ClusterLock> Qcow2Image::lock_clusters(uint64_t first, uint64_t end)
{
    while (cluster_range_locked(first, end)) {
        co_await unlocked_.wait();
    }
    locked_.emplace_back(first, end);
    co_return ClusterLock(this, first, end);
}

void Qcow2Image::unlock_clusters(uint64_t first, uint64_t end)
{
    const auto it = std::find(locked_.begin(), locked_.end(), std::pair{first, end});
    if (it != locked_.end()) {
        locked_.erase(it);
    }
    unlocked_.wake_all(scheduler_);
}

void Qcow2Image::note_written(uint64_t host_end) { file_end_ = std::max(file_end_, host_end); }

void Qcow2Image::set_entry(uint64_t guest_cluster, uint64_t entry)
{
    const uint64_t guest = guest_cluster << h_.cluster_bits;
    L2Cache::Table* table = cache_.find(l1_index(guest));
    // Callers hold make_table_writable()'s table in the cache (reloaded if it was dropped).
    store_be64(table->data.span(), l2_index(guest) * 8, entry);
    cache_.mark_dirty(*table);
}

void Qcow2Image::release_mapping(const ClusterMapping& m)
{
    // Requests that began before now may still be reading or writing the old cluster.
    const uint64_t seq = next_seq_;
    switch (m.kind) {
    case ClusterKind::Normal: allocator_.free_later(m.host >> h_.cluster_bits, seq); break;
    case ClusterKind::Zero:
        if (m.host != 0) {
            allocator_.free_later(m.host >> h_.cluster_bits, seq);
        }
        break;
    case ClusterKind::Compressed: {
        const auto range = compressed_host_clusters(m, h_.cluster_bits);
        for (uint64_t c = range.first; c <= range.last; ++c) {
            allocator_.free_later(c, seq);
        }
        break;
    }
    case ClusterKind::Unallocated: break;
    }
}

Task<int> Qcow2Image::make_table_writable(uint64_t l1)
{
    for (;;) {
        const uint64_t entry = m_.l1[l1];
        const uint64_t offset = entry & kOffsetMask;
        if (offset == 0) {
            const uint64_t host = allocator_.allocate(1);
            m_.metadata.set(host >> h_.cluster_bits);
            cache_.insert(l1, AlignedBuffer(h_.cluster_size()), true);
            m_.l1[l1] = host | kOflagCopied;
            dirty_l1_.insert(l1);
            co_return 0;
        }
        if (cache_.find(l1) == nullptr) {
            if (const int err = co_await load_table(l1); err != 0) {
                co_return err;
            }
            continue;
        }
        if ((entry & kOflagCopied) != 0) {
            co_return 0;
        }
        // Shared with a snapshot: this image gets its own copy. The copy's entries are shared
        // too (the snapshot's table points at them), so none may be written in place.
        const L2Cache::Table* shared = cache_.find(l1);
        AlignedBuffer copy(h_.cluster_size());
        std::memcpy(copy.data(), shared->data.data(), copy.size());
        for (uint64_t i = 0; i < h_.l2_entries(); ++i) {
            const uint64_t e = load_be64(copy.span(), i * 8);
            if ((e & kOflagCompressed) == 0) {
                store_be64(copy.span(), i * 8, e & ~kOflagCopied);
            }
        }
        const uint64_t host = allocator_.allocate(1);
        m_.metadata.set(host >> h_.cluster_bits);
        cache_.insert(l1, std::move(copy), true);
        m_.l1[l1] = host | kOflagCopied;
        dirty_l1_.insert(l1);
        allocator_.free_later(offset >> h_.cluster_bits, next_seq_);
        co_return 0;
    }
}

Task<int> Qcow2Image::old_contents(uint64_t guest_cluster, ClusterMapping m, std::span<std::byte> out,
                                   std::span<std::byte> scratch)
{
    switch (m.kind) {
    case ClusterKind::Normal: {
        if (!host_range_ok(m.host, out.size(), false)) {
            co_return EIO;
        }
        const iovec v{out.data(), out.size()};
        co_return co_await io_.run(DiskOp{
            .kind = DiskOpKind::Read, .offset = m.host, .length = out.size(), .iov = std::span(&v, 1), .fd = fd_});
    }
    case ClusterKind::Zero: std::fill(out.begin(), out.end(), std::byte{0}); co_return 0;
    case ClusterKind::Unallocated: {
        if (backing_ == nullptr) {
            std::fill(out.begin(), out.end(), std::byte{0});
            co_return 0;
        }
        const iovec whole{out.data(), out.size()};
        co_return co_await backing_->read(guest_cluster << h_.cluster_bits, std::span(&whole, 1));
    }
    case ClusterKind::Compressed: co_return co_await read_compressed(m, scratch, out);
    }
    co_return EIO;
}

Task<int> Qcow2Image::allocate_and_write(uint64_t first_cluster, uint64_t clusters, uint64_t offset,
                                         std::span<const iovec> iov, uint64_t at, uint64_t length)
{
    const uint64_t cs = h_.cluster_size();
    const uint64_t start = first_cluster << h_.cluster_bits;
    const uint64_t head = offset - start;
    const uint64_t tail = start + clusters * cs - (offset + length);
    const uint64_t l1 = l1_index(start);

    std::vector<ClusterMapping> old(clusters);
    const L2Cache::Table* table = cache_.find(l1);
    for (uint64_t i = 0; i < clusters; ++i) {
        const auto m = mapping_in(table, (first_cluster + i) << h_.cluster_bits);
        if (!m) {
            co_return EIO;
        }
        old[i] = *m;
    }
    // What the write leaves of the first and last cluster comes from their old contents.
    const bool tail_separate = tail > 0 && (clusters > 1 || head == 0);
    const auto scratch_for = [](const ClusterMapping& m) { return m.kind == ClusterKind::Compressed ? 1 : 0; };
    const std::size_t need = (head > 0 ? 1 + scratch_for(old.front()) : 0) +
                             (tail_separate ? 1 + scratch_for(old.back()) : 0);
    auto lease = co_await buffers_.acquire(need);
    std::size_t next_buffer = 0;
    std::span<std::byte> head_cluster;
    std::span<std::byte> tail_cluster;
    if (head > 0) {
        head_cluster = lease[next_buffer++].first(cs);
        const auto scratch = scratch_for(old.front()) ? lease[next_buffer++] : std::span<std::byte>{};
        if (const int err = co_await old_contents(first_cluster, old.front(), head_cluster, scratch); err != 0) {
            co_return err;
        }
    }
    if (tail_separate) {
        tail_cluster = lease[next_buffer++].first(cs);
        const auto scratch = scratch_for(old.back()) ? lease[next_buffer++] : std::span<std::byte>{};
        if (const int err = co_await old_contents(first_cluster + clusters - 1, old.back(), tail_cluster, scratch);
            err != 0) {
            co_return err;
        }
    } else if (tail > 0) {
        tail_cluster = head_cluster;
    }

    const uint64_t host = allocator_.allocate(clusters);
    const uint64_t host_cluster = host >> h_.cluster_bits;
    std::vector<iovec> pieces;
    if (head > 0) {
        pieces.push_back(iovec{head_cluster.data(), static_cast<std::size_t>(head)});
    }
    append_iov_range(iov, at, length, pieces);
    if (tail > 0) {
        pieces.push_back(iovec{tail_cluster.data() + (cs - tail), static_cast<std::size_t>(tail)});
    }
    bool on_metadata = false;
    for (uint64_t c = host_cluster; c < host_cluster + clusters; ++c) {
        on_metadata = on_metadata || m_.metadata.test(c);
    }
    int err = on_metadata ? EIO : 0;
    if (err == 0) {
        err = co_await io_.run(DiskOp{
            .kind = DiskOpKind::Write, .offset = host, .length = clusters * cs, .iov = pieces, .fd = fd_});
    }
    if (err != 0) {
        for (uint64_t c = host_cluster; c < host_cluster + clusters; ++c) {
            allocator_.free_now(c);
        }
        co_return err;
    }
    note_written(host + clusters * cs);
    // The data is in the file: now the entries may point at it.
    if (const int e = co_await make_table_writable(l1); e != 0) {
        for (uint64_t c = host_cluster; c < host_cluster + clusters; ++c) {
            allocator_.free_now(c);
        }
        co_return e;
    }
    for (uint64_t i = 0; i < clusters; ++i) {
        set_entry(first_cluster + i, (host + i * cs) | kOflagCopied);
        release_mapping(old[i]);
    }
    co_return 0;
}

Task<int> Qcow2Image::write_in_table(uint64_t offset, std::span<const iovec> iov, uint64_t at, uint64_t length)
{
    const uint64_t cs = h_.cluster_size();
    const uint64_t first = offset >> h_.cluster_bits;
    const uint64_t end = (offset + length + cs - 1) >> h_.cluster_bits;
    const uint64_t l1 = l1_index(offset);

    // Fast path: every cluster is this image's alone and no mapping change is under way:
    // write in place, without a lock.
    while (!cluster_range_locked(first, end)) {
        if (l2_table_offset(l1) != 0 && cache_.find(l1) == nullptr) {
            if (const int err = co_await load_table(l1); err != 0) {
                co_return err;
            }
            continue;
        }
        const L2Cache::Table* table = l2_table_offset(l1) == 0 ? nullptr : cache_.find(l1);
        bool in_place = table != nullptr && (m_.l1[l1] & kOflagCopied) != 0;
        for (uint64_t c = first; in_place && c < end; ++c) {
            const auto m = mapping_in(table, c << h_.cluster_bits);
            in_place = m && m->kind == ClusterKind::Normal && m->copied;
        }
        if (!in_place) {
            break;
        }
        // Where the data goes, worked out before the first write (a mapping changed meanwhile
        // leaves its old cluster allocated until this request ends, so writing there is safe).
        if (const auto run = run_at(offset, length); run->bytes == length) {
            if (!host_range_ok(run->host, length, true)) {
                co_return EIO;
            }
            std::vector<iovec> part;
            if (at != 0 || length != iov_bytes(iov)) {
                append_iov_range(iov, at, length, part);
            }
            co_return co_await io_.run(DiskOp{.kind = DiskOpKind::Write,
                                              .offset = run->host,
                                              .length = length,
                                              .iov = part.empty() ? iov : std::span<const iovec>(part),
                                              .fd = fd_});
        }
        std::vector<std::pair<uint64_t, uint64_t>> runs; // host, bytes
        for (uint64_t done = 0; done < length;) {
            const auto run = run_at(offset + done, length - done);
            runs.emplace_back(run->host, run->bytes);
            done += run->bytes;
        }
        uint64_t done = 0;
        for (const auto& [host, bytes] : runs) {
            if (!host_range_ok(host, bytes, true)) {
                co_return EIO;
            }
            std::vector<iovec> part;
            append_iov_range(iov, at + done, bytes, part);
            if (const int err = co_await io_.run(
                    DiskOp{.kind = DiskOpKind::Write, .offset = host, .length = bytes, .iov = part, .fd = fd_});
                err != 0) {
                co_return err;
            }
            done += bytes;
        }
        co_return 0;
    }

    const auto lock = co_await lock_clusters(first, end);
    int err = co_await make_table_writable(l1);
    for (uint64_t c = first; err == 0 && c < end;) {
        if (cache_.find(l1) == nullptr) {
            err = co_await load_table(l1); // a clean table may have been dropped while we waited
            continue;
        }
        const L2Cache::Table* table = cache_.find(l1);
        const auto m = mapping_in(table, c << h_.cluster_bits);
        if (!m) {
            err = EIO;
            break;
        }
        const bool in_place = m->kind == ClusterKind::Normal && m->copied;
        uint64_t e = c + 1;
        for (; e < end; ++e) {
            const auto n = mapping_in(table, e << h_.cluster_bits);
            if (!n) {
                break;
            }
            const bool n_in_place = n->kind == ClusterKind::Normal && n->copied;
            if (n_in_place != in_place || (in_place && n->host != m->host + ((e - c) << h_.cluster_bits))) {
                break;
            }
        }
        const uint64_t seg_start = std::max(offset, c << h_.cluster_bits);
        const uint64_t seg_end = std::min(offset + length, e << h_.cluster_bits);
        const uint64_t seg_at = at + (seg_start - offset);
        if (in_place) {
            const uint64_t host = m->host + (seg_start - (c << h_.cluster_bits));
            if (!host_range_ok(host, seg_end - seg_start, true)) {
                err = EIO;
                break;
            }
            std::vector<iovec> part;
            append_iov_range(iov, seg_at, seg_end - seg_start, part);
            err = co_await io_.run(DiskOp{
                .kind = DiskOpKind::Write, .offset = host, .length = seg_end - seg_start, .iov = part, .fd = fd_});
        } else {
            err = co_await allocate_and_write(c, e - c, seg_start, iov, seg_at, seg_end - seg_start);
        }
        c = e;
    }
    co_return err;
}

Task<int> Qcow2Image::write(uint64_t offset, std::span<const iovec> iov)
{
    if (!writable_) {
        co_return EROFS;
    }
    if (failed_) {
        co_return EIO;
    }
    const uint64_t length = iov_bytes(iov);
    if (offset > h_.size || length > h_.size - offset) {
        co_return EINVAL;
    }
    for (uint64_t at = 0; at < length;) {
        const uint64_t guest = offset + at;
        const uint64_t table_end = (l1_index(guest) + 1) << l2_shift();
        const uint64_t n = std::min(length - at, table_end - guest);
        if (const int err = co_await write_in_table(guest, iov, at, n); err != 0) {
            co_return err;
        }
        at += n;
    }
    if (cache_.over_capacity()) {
        start_background_write_back();
    }
    co_return 0;
}

} // namespace minivmm::backends::qcow2
