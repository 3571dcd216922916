// Cluster allocation and refcount blocks of a writable qcow2 image.
#include "backends/block/qcow2/qcow2_allocator.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace minivmm::backends::qcow2 {

Allocator::Allocator(Metadata& metadata, IoEngine& io, int fd, util::GuestLog& log)
    : m_(metadata), io_(io), fd_(fd), log_(log), cluster_bits_(metadata.header.cluster_bits),
      refblock_entries_(metadata.header.refblock_entries())
{
    m_.used.resize(std::max(m_.used.size(), m_.allocation_end));
}

uint64_t Allocator::find_run(uint64_t n) const
{
    uint64_t start = hint_;
    for (;;) {
        const uint64_t s = m_.used.find_clear(start);
        if (s >= m_.used.size()) {
            return std::max(s, m_.used.size());
        }
        const uint64_t e = m_.used.find_set(s);
        if (e - s >= n || e >= m_.used.size()) {
            return s;
        }
        start = e;
    }
}

uint64_t Allocator::allocate_into(uint64_t n, std::map<uint64_t, int64_t>& deltas)
{
    const uint64_t first = find_run(n);
    for (uint64_t c = first; c < first + n; ++c) {
        m_.used.set(c);
        deltas[c] += 1;
    }
    if (first <= hint_ && hint_ < first + n) {
        hint_ = first + n;
    }
    return first;
}

uint64_t Allocator::allocate(uint64_t n) { return allocate_into(n, deltas_) << cluster_bits_; }

void Allocator::free_now(uint64_t cluster)
{
    const auto it = deltas_.find(cluster);
    if (it != deltas_.end() && it->second > 0) {
        // Its allocation is not on disk yet: just forget it.
        if (--it->second == 0) {
            deltas_.erase(it);
        }
        m_.used.clear(cluster);
        hint_ = std::min(hint_, cluster);
        return;
    }
    deltas_[cluster] -= 1;
}

void Allocator::free_later(uint64_t cluster, uint64_t request_seq) { frees_.push_back(Free{cluster, request_seq, 0}); }

int Allocator::begin_round(Round& round, uint64_t oldest_request)
{
    std::erase_if(frees_, [&](const Free& f) {
        if (f.round == 0 || f.round >= round.number || f.request_seq > oldest_request) {
            return false;
        }
        deltas_[f.cluster] -= 1;
        return true;
    });
    for (Free& f : frees_) {
        if (f.round == 0) {
            f.round = round.number;
        }
    }
    round.deltas = std::exchange(deltas_, {});
    std::erase_if(round.deltas, [](const auto& d) { return d.second == 0; });

    // Every cluster whose count goes up needs a refcount block; new blocks are counted too.
    for (;;) {
        std::set<uint64_t> missing;
        for (const auto& [cluster, delta] : round.deltas) {
            const uint64_t t = cluster / refblock_entries_;
            if (delta > 0 && (t >= m_.reftable.size() || m_.reftable[t] == 0)) {
                missing.insert(t);
            }
        }
        if (missing.empty()) {
            return 0;
        }
        if (*missing.rbegin() >= m_.reftable.size()) {
            if (const int err = grow_table(round, *missing.rbegin() + 1); err != 0) {
                return err;
            }
            continue;
        }
        for (const uint64_t t : missing) {
            // Inside the range it covers when there is room (it then counts itself, as QEMU
            // places new blocks), else anywhere.
            uint64_t c = m_.used.find_clear(t * refblock_entries_);
            if (c >= (t + 1) * refblock_entries_) {
                c = allocate_into(1, round.deltas);
            } else {
                m_.used.set(c);
                round.deltas[c] += 1;
            }
            m_.metadata.set(c);
            m_.reftable[t] = c << cluster_bits_;
            round.table_entries.insert(t);
            blocks_[t] = Block{AlignedBuffer(std::size_t{1} << cluster_bits_), true, ++clock_};
        }
    }
}

int Allocator::grow_table(Round& round, uint64_t min_entries)
{
    Header& h = m_.header;
    const uint64_t per_cluster = h.cluster_size() / 8;
    uint64_t entries = std::max<uint64_t>(min_entries, m_.reftable.size() * 2);
    entries = (entries + per_cluster - 1) / per_cluster * per_cluster;
    const uint64_t clusters = entries / per_cluster;
    if (clusters * h.cluster_size() > kMaxRefTableBytes) {
        log_.error("the refcount table would grow past {} bytes; the image cannot grow further", kMaxRefTableBytes);
        return EFBIG;
    }
    const uint64_t old_first = h.refcount_table_offset >> cluster_bits_;
    const uint64_t old_clusters = h.refcount_table_clusters;
    if (round.table_moved) {
        // The table already moved in this round and was never written there: give that place back.
        for (uint64_t c = old_first; c < old_first + old_clusters; ++c) {
            if (--round.deltas[c] == 0) {
                round.deltas.erase(c);
            }
            m_.used.clear(c);
            m_.metadata.clear(c);
            hint_ = std::min(hint_, c);
        }
    } else {
        for (uint64_t c = old_first; c < old_first + old_clusters; ++c) {
            round.free_after.push_back(c);
        }
    }
    const uint64_t first = allocate_into(clusters, round.deltas);
    for (uint64_t c = first; c < first + clusters; ++c) {
        m_.metadata.set(c);
    }
    m_.reftable.resize(entries, 0);
    h.refcount_table_offset = first << cluster_bits_;
    h.refcount_table_clusters = static_cast<uint32_t>(clusters);
    store_be64(m_.header_bytes.span(), kHeaderRefTableOffset, h.refcount_table_offset);
    store_be32(m_.header_bytes.span(), kHeaderRefTableClusters, h.refcount_table_clusters);
    round.table_moved = true;
    return 0;
}

Task<int> Allocator::load_block(uint64_t index)
{
    if (auto it = blocks_.find(index); it != blocks_.end()) {
        it->second.last_use = ++clock_;
        co_return 0;
    }
    AlignedBuffer data(std::size_t{1} << cluster_bits_);
    const iovec v{data.data(), data.size()};
    const int err = co_await io_.run(DiskOp{.kind = DiskOpKind::Read,
                                            .offset = m_.reftable[index],
                                            .length = data.size(),
                                            .iov = std::span(&v, 1),
                                            .fd = fd_});
    if (err != 0) {
        co_return err;
    }
    blocks_[index] = Block{std::move(data), false, ++clock_};
    co_return 0;
}

Task<int> Allocator::write_blocks(Round& round)
{
    const Header& h = m_.header;
    const uint64_t max = h.refcount_order == 6 ? UINT64_MAX : (1ULL << h.refcount_bits()) - 1;
    std::vector<uint64_t> zeroed;
    for (auto it = round.deltas.begin(); it != round.deltas.end();) {
        const uint64_t t = it->first / refblock_entries_;
        const auto end = round.deltas.lower_bound((t + 1) * refblock_entries_);
        if (t >= m_.reftable.size() || m_.reftable[t] == 0) {
            log_.error("refcount decrement for cluster 0x{:x}, which has no refcount block", it->first << cluster_bits_);
            co_return EIO;
        }
        if (const int err = co_await load_block(t); err != 0) {
            co_return err;
        }
        Block& block = blocks_.at(t);
        for (; it != end; ++it) {
            const auto [cluster, delta] = *it;
            const uint64_t index = cluster % refblock_entries_;
            const uint64_t old = refcount_get(block.data.span(), h.refcount_order, index);
            if ((delta < 0 && old < static_cast<uint64_t>(-delta)) ||
                (delta > 0 && max - old < static_cast<uint64_t>(delta))) {
                log_.error("refcount of cluster 0x{:x} would go from {} by {}", cluster << cluster_bits_, old, delta);
                co_return EIO;
            }
            const uint64_t now = static_cast<uint64_t>(static_cast<int64_t>(old) + delta);
            refcount_set(block.data.span(), h.refcount_order, index, now);
            if (now == 0) {
                zeroed.push_back(cluster);
            }
        }
        block.dirty = true;
    }
    // Give the space of clusters nobody uses any more back to the filesystem before they can
    // be allocated again (a hole punched later could land on new data).
    for (std::size_t i = 0; i < zeroed.size();) {
        std::size_t j = i + 1;
        while (j < zeroed.size() && zeroed[j] == zeroed[j - 1] + 1) {
            ++j;
        }
        (void)co_await io_.run(DiskOp{.kind = DiskOpKind::Discard,
                                      .offset = zeroed[i] << cluster_bits_,
                                      .length = (j - i) << cluster_bits_,
                                      .iov = {},
                                      .fd = fd_}); // a hint: failing to punch only costs space
        i = j;
    }
    for (const uint64_t c : zeroed) {
        m_.used.clear(c);
        m_.metadata.clear(c);
        hint_ = std::min(hint_, c);
    }
    for (auto& [t, block] : blocks_) {
        if (!block.dirty) {
            continue;
        }
        const iovec v{block.data.data(), block.data.size()};
        const int err = co_await io_.run(DiskOp{.kind = DiskOpKind::Write,
                                                .offset = m_.reftable[t],
                                                .length = block.data.size(),
                                                .iov = std::span(&v, 1),
                                                .fd = fd_});
        if (err != 0) {
            co_return err;
        }
        block.dirty = false;
    }
    trim_blocks();
    co_return 0;
}

Task<int> Allocator::write_table(const Round& round)
{
    const Header& h = m_.header;
    if (round.table_moved) {
        AlignedBuffer table(uint64_t{h.refcount_table_clusters} << cluster_bits_);
        for (uint64_t i = 0; i < m_.reftable.size(); ++i) {
            store_be64(table.span(), i * 8, m_.reftable[i]);
        }
        const iovec v{table.data(), table.size()};
        co_return co_await io_.run(DiskOp{.kind = DiskOpKind::Write,
                                          .offset = h.refcount_table_offset,
                                          .length = table.size(),
                                          .iov = std::span(&v, 1),
                                          .fd = fd_});
    }
    // Whole 512-byte sectors (O_DIRECT) holding the entries that changed.
    std::set<uint64_t> sectors;
    for (const uint64_t t : round.table_entries) {
        sectors.insert(t / 64);
    }
    AlignedBuffer sector(512);
    for (const uint64_t s : sectors) {
        for (uint64_t i = 0; i < 64; ++i) {
            const uint64_t t = s * 64 + i;
            store_be64(sector.span(), i * 8, t < m_.reftable.size() ? m_.reftable[t] : 0);
        }
        const iovec v{sector.data(), sector.size()};
        const int err = co_await io_.run(DiskOp{.kind = DiskOpKind::Write,
                                                .offset = h.refcount_table_offset + s * 512,
                                                .length = 512,
                                                .iov = std::span(&v, 1),
                                                .fd = fd_});
        if (err != 0) {
            co_return err;
        }
    }
    co_return 0;
}

void Allocator::end_round(Round& round, bool ok)
{
    if (!ok) {
        for (Free& f : frees_) {
            if (f.round == round.number) {
                f.round = 0;
            }
        }
        return;
    }
    for (const uint64_t c : round.free_after) {
        deltas_[c] -= 1;
    }
}

void Allocator::trim_blocks()
{
    while (blocks_.size() > kBlockCacheSize) {
        auto victim = blocks_.end();
        for (auto it = blocks_.begin(); it != blocks_.end(); ++it) {
            if (!it->second.dirty && (victim == blocks_.end() || it->second.last_use < victim->second.last_use)) {
                victim = it;
            }
        }
        if (victim == blocks_.end()) {
            return;
        }
        blocks_.erase(victim);
    }
}

} // namespace minivmm::backends::qcow2
