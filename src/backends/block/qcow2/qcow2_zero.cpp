// qcow2 write-zeroes and discard (virtio-blk WRITE_ZEROES, with or without UNMAP, and
// DISCARD). Whole clusters change their L2 entry: a zero cluster (version 3), or
// unallocated where that reads as zeros (no backing file); the clusters they used are
// freed. Without UNMAP, a cluster this image owns keeps its space and has it zeroed in the
// file. A version 2 image over a backing file has no zero clusters, so zeros are written.
// Partial clusters: zeros written through the write path; a discard ignores them (it is a
// hint, as in QEMU).
#include "backends/block/qcow2/qcow2_image.hpp"

#include "backends/block/disk_op_steps.hpp"

#include <algorithm>
#include <cerrno>
#include <optional>

namespace minivmm::backends::qcow2 {

namespace {

enum class Action { Keep, SetEntry, ZeroInFile, WriteZeros };

} // namespace

Task<int> Qcow2Image::write_zeroes(uint64_t offset, uint64_t length, bool unmap)
{
    co_return co_await zero_range(offset, length, unmap ? ZeroMode::ZeroUnmap : ZeroMode::Zero);
}

Task<int> Qcow2Image::discard(uint64_t offset, uint64_t length)
{
    co_return co_await zero_range(offset, length, ZeroMode::Discard);
}

Task<int> Qcow2Image::zero_partial(uint64_t offset, uint64_t length)
{
    // Already reads as zeros? Then there is nothing to write.
    bool zero = true;
    for (uint64_t at = offset; zero && at < offset + length;) {
        const uint64_t l1 = l1_index(at);
        if (l2_table_offset(l1) != 0 && cache_.find(l1) == nullptr) {
            if (const int err = co_await load_table(l1); err != 0) {
                co_return err;
            }
            continue;
        }
        const auto run = run_at(at, offset + length - at);
        if (!run) {
            co_return EIO;
        }
        zero = run->kind == ClusterKind::Zero || (run->kind == ClusterKind::Unallocated && backing_ == nullptr);
        at += run->bytes;
    }
    if (zero) {
        co_return 0;
    }
    const auto zeros = zero_chunk();
    std::vector<iovec> iov;
    for (uint64_t at = 0; at < length; at += zeros.size()) {
        // zero_chunk() is only ever read from: a write's source.
        iov.push_back(iovec{zeros.data(), static_cast<std::size_t>(std::min<uint64_t>(zeros.size(), length - at))});
    }
    co_return co_await write(offset, iov);
}

Task<int> Qcow2Image::zero_clusters(uint64_t first, uint64_t end, ZeroMode mode)
{
    const uint64_t cs = h_.cluster_size();
    const uint64_t l1 = l1_index(first << h_.cluster_bits);
    const bool zero_flag = h_.version >= 3;
    // What to do with a cluster mapped as `m`.
    const auto action = [&](const ClusterMapping& m) {
        const bool reads_zero = (m.kind == ClusterKind::Zero && m.host == 0) ||
                                (m.kind == ClusterKind::Unallocated && backing_ == nullptr);
        if (reads_zero || (mode == ZeroMode::Discard && m.kind == ClusterKind::Unallocated)) {
            return Action::Keep;
        }
        if (mode == ZeroMode::Zero && m.kind == ClusterKind::Normal && m.copied) {
            return Action::ZeroInFile;
        }
        if (zero_flag || backing_ == nullptr) {
            return Action::SetEntry;
        }
        return mode == ZeroMode::Discard ? Action::Keep : Action::WriteZeros;
    };

    auto lock = std::optional(co_await lock_clusters(first, end));
    int err = 0;
    bool changes = false;
    for (;;) {
        if (l2_table_offset(l1) != 0 && cache_.find(l1) == nullptr) {
            if ((err = co_await load_table(l1)) != 0) {
                break;
            }
            continue;
        }
        const L2Cache::Table* table = l2_table_offset(l1) == 0 ? nullptr : cache_.find(l1);
        for (uint64_t c = first; c < end && err == 0; ++c) {
            const auto m = mapping_in(table, c << h_.cluster_bits);
            err = m ? 0 : EIO;
            changes = changes || (m && action(*m) == Action::SetEntry);
        }
        break;
    }
    if (err == 0 && changes) {
        err = co_await make_table_writable(l1);
    }
    std::vector<std::pair<uint64_t, uint64_t>> zero_in_file; // host, bytes
    std::vector<uint64_t> write_zeros;                         // guest clusters
    if (err == 0) {
        const L2Cache::Table* table = l2_table_offset(l1) == 0 ? nullptr : cache_.find(l1);
        for (uint64_t c = first; c < end; ++c) {
            const auto m = mapping_in(table, c << h_.cluster_bits);
            if (!m) {
                err = EIO;
                break;
            }
            switch (action(*m)) {
            case Action::Keep: break;
            case Action::SetEntry:
                set_entry(c, zero_flag ? kOflagZero : 0);
                release_mapping(*m);
                break;
            case Action::ZeroInFile:
                if (!zero_in_file.empty() && zero_in_file.back().first + zero_in_file.back().second == m->host) {
                    zero_in_file.back().second += cs;
                } else {
                    zero_in_file.emplace_back(m->host, cs);
                }
                break;
            case Action::WriteZeros: write_zeros.push_back(c); break;
            }
        }
    }
    for (const auto& [host, bytes] : zero_in_file) {
        if (err != 0) {
            break;
        }
        if (!host_range_ok(host, bytes, true)) {
            err = EIO;
            break;
        }
        err = co_await io_.run(
            DiskOp{.kind = DiskOpKind::WriteZeroes, .offset = host, .length = bytes, .iov = {}, .fd = fd_});
    }
    lock.reset(); // the zeros below go through write(), which takes its own lock
    for (const uint64_t c : write_zeros) {
        if (err != 0) {
            break;
        }
        err = co_await zero_partial(c << h_.cluster_bits, cs);
    }
    co_return err;
}

Task<int> Qcow2Image::zero_range(uint64_t offset, uint64_t length, ZeroMode mode)
{
    if (!writable_) {
        co_return EROFS;
    }
    if (failed_) {
        co_return EIO;
    }
    if (offset > h_.size || length > h_.size - offset) {
        co_return EINVAL;
    }
    const uint64_t cs = h_.cluster_size();
    const uint64_t end = offset + length;
    // Whole clusters inside the range; a last cluster cut short by the end of the disk counts
    // as whole (nothing past the end can be read).
    const uint64_t first_whole = (offset + cs - 1) / cs;
    const uint64_t end_whole = end == h_.size ? (end + cs - 1) / cs : end / cs;
    if (first_whole >= end_whole) {
        co_return mode == ZeroMode::Discard ? 0 : co_await zero_partial(offset, length);
    }
    if (mode != ZeroMode::Discard && offset < first_whole * cs) {
        if (const int err = co_await zero_partial(offset, first_whole * cs - offset); err != 0) {
            co_return err;
        }
    }
    for (uint64_t c = first_whole; c < end_whole;) {
        const uint64_t table_end = ((l1_index(c * cs) + 1) << l2_shift()) / cs;
        const uint64_t stop = std::min(end_whole, table_end);
        if (const int err = co_await zero_clusters(c, stop, mode); err != 0) {
            co_return err;
        }
        c = stop;
    }
    if (mode != ZeroMode::Discard && end_whole * cs < end) {
        if (const int err = co_await zero_partial(end_whole * cs, end - end_whole * cs); err != 0) {
            co_return err;
        }
    }
    if (cache_.over_capacity()) {
        start_background_write_back();
    }
    co_return 0;
}

} // namespace minivmm::backends::qcow2
