// qcow2 at run time: the L2 cache, cluster mappings and the read path (qcow2.txt "Cluster
// mapping"; unallocated clusters read from the backing file, or as zeros).
#include "backends/block/qcow2/qcow2_image.hpp"

#include "backends/block/iov_range.hpp"
#include "backends/block/qcow2/decompress.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>

namespace minivmm::backends::qcow2 {

namespace {

// Copy-on-write and compressed-cluster buffers of one image: 64 at most (a request takes up
// to four), or fewer so that they hold no more than 16 MiB, but never fewer than 8.
constexpr std::size_t kMaxCowBuffers = 64;
constexpr std::size_t kMaxCowBufferBytes = 16 << 20;

std::size_t cache_tables(const Header& h, uint64_t cache_bytes)
{
    const uint64_t whole_disk = h.l1_size;
    return static_cast<std::size_t>(std::max<uint64_t>(4, std::min(whole_disk, cache_bytes / h.cluster_size())));
}

std::size_t buffer_bytes(const Header& h) { return static_cast<std::size_t>(2 * h.cluster_size() + 4096); }

std::size_t buffer_count(const Header& h)
{
    return std::max<std::size_t>(8, std::min(kMaxCowBuffers, kMaxCowBufferBytes / buffer_bytes(h)));
}

} // namespace

Qcow2Image::Qcow2Image(ChainImage& image, IoEngine& io, Scheduler& scheduler, ImageLayer* backing,
                       uint64_t l2_cache_bytes)
    : image_(image), m_(*image.qcow2), h_(m_.header), fd_(image.file.fd()), io_(io), scheduler_(scheduler),
      backing_(backing), writable_(image.writable), durable_(image.durable), file_end_(m_.file_size),
      cache_(cache_tables(m_.header, l2_cache_bytes), m_.header.cluster_size()),
      buffers_(buffer_count(m_.header), buffer_bytes(m_.header), scheduler), log_(fmt::format("qcow2 '{}'", image.file.path().string())), allocator_(m_, io, image.file.fd(), log_)
{
    for (auto& [index, table] : m_.l2_tables) {
        if (cache_.size() >= cache_.capacity()) {
            break;
        }
        cache_.insert(index, std::move(table), false);
    }
    m_.l2_tables.clear();
    m_.l2_tables.shrink_to_fit();
}

void Qcow2Image::corrupt(const std::string& what)
{
    log_.warn("{}; the guest gets an I/O error", what);
}

uint64_t Qcow2Image::l2_table_offset(uint64_t l1) const { return l1 < m_.l1.size() ? m_.l1[l1] & kOffsetMask : 0; }

L2Cache::Table* Qcow2Image::cached_table(uint64_t l1) { return cache_.find(l1); }

Task<int> Qcow2Image::load_table(uint64_t l1)
{
    for (;;) {
        if (l2_table_offset(l1) == 0 || cache_.find(l1) != nullptr) {
            co_return 0;
        }
        if (auto it = loading_.find(l1); it != loading_.end()) {
            co_await it->second.wait();
            continue;
        }
        if (cache_.far_over_capacity() && writing_back_) {
            co_await write_back_done_.wait(); // dirty tables fill the cache: let the write-back clean some
            continue;
        }
        break;
    }
    const uint64_t offset = l2_table_offset(l1);
    if (offset + h_.cluster_size() > file_end_) {
        corrupt(fmt::format("L2 table {} at 0x{:x} lies past the end of the file", l1, offset));
        co_return EIO;
    }
    AlignedBuffer table(h_.cluster_size());
    const iovec v{table.data(), table.size()};
    // Whoever waits for this table is woken however the load ends (an exception included).
    struct Loading {
        Qcow2Image& image;
        uint64_t l1;
        ~Loading()
        {
            if (auto waiting = image.loading_.extract(l1)) {
                waiting.mapped().wake_all(image.scheduler_);
            }
        }
    };
    loading_[l1];
    const Loading loading{*this, l1};
    const int err = co_await io_.run(DiskOp{.kind = DiskOpKind::Read,
                                            .offset = offset,
                                            .length = table.size(),
                                            .iov = std::span(&v, 1),
                                            .fd = fd_});
    if (err == 0) {
        cache_.insert(l1, std::move(table), false);
        if (cache_.over_capacity()) {
            start_background_write_back();
        }
    }
    co_return err;
}

std::optional<ClusterMapping> Qcow2Image::mapping_in(const L2Cache::Table* table, uint64_t guest)
{
    if (table == nullptr) {
        return ClusterMapping{}; // no L2 table: unallocated
    }
    const uint64_t entry = load_be64(table->data.span(), l2_index(guest) * 8);
    auto m = decode_l2_entry(entry, h_.cluster_bits, h_.version);
    if (!m) {
        corrupt(fmt::format("invalid L2 entry 0x{:016x} for guest offset 0x{:x}", entry, guest));
    }
    return m;
}

bool Qcow2Image::host_range_ok(uint64_t host, uint64_t bytes, bool for_write)
{
    if (host < h_.cluster_size() || host > file_end_ || bytes > file_end_ - host) {
        corrupt(fmt::format("data at 0x{:x}+{} lies outside the file", host, bytes));
        return false;
    }
    if (for_write) {
        for (uint64_t c = host >> h_.cluster_bits; c <= (host + bytes - 1) >> h_.cluster_bits; ++c) {
            if (m_.metadata.test(c)) {
                corrupt(fmt::format("a data write would land on metadata at 0x{:x}", c << h_.cluster_bits));
                return false;
            }
        }
    }
    return true;
}

std::optional<Qcow2Image::Run> Qcow2Image::run_at(uint64_t guest, uint64_t max)
{
    const uint64_t cluster = h_.cluster_size();
    const uint64_t l1 = l1_index(guest);
    const L2Cache::Table* table = l2_table_offset(l1) == 0 ? nullptr : cache_.find(l1);
    const auto first = mapping_in(table, guest);
    if (!first) {
        return std::nullopt;
    }
    Run run;
    run.kind = first->kind;
    const uint64_t in_cluster = guest & (cluster - 1);
    run.bytes = std::min(max, cluster - in_cluster);
    if (run.kind == ClusterKind::Compressed) {
        run.mapping = *first;
        return run;
    }
    run.host = first->host + in_cluster;
    // Extend over following clusters of the same table mapped alike (data: contiguous on the host).
    const uint64_t table_end = (l1 + 1) << l2_shift();
    uint64_t next = (guest | (cluster - 1)) + 1;
    uint64_t expected_host = first->host + cluster;
    while (run.bytes < max && next < table_end) {
        const auto m = mapping_in(table, next);
        if (!m || m->kind != run.kind || (run.kind == ClusterKind::Normal && m->host != expected_host)) {
            break;
        }
        run.bytes += std::min(cluster, max - run.bytes);
        next += cluster;
        expected_host += cluster;
    }
    return run;
}

Task<int> Qcow2Image::read_compressed(ClusterMapping m, std::span<std::byte> in, std::span<std::byte> cluster)
{
    const uint64_t start = m.host / 512 * 512;
    const uint64_t end = std::min<uint64_t>((m.host + m.compressed_bytes + 511) / 512 * 512, start + in.size());
    if (m.host >= file_end_) {
        corrupt(fmt::format("compressed data at 0x{:x} lies past the end of the file", m.host));
        co_return EIO;
    }
    std::fill(in.begin(), in.end(), std::byte{0});
    const iovec v{in.data(), static_cast<std::size_t>(end - start)};
    const int err = co_await io_.run(DiskOp{.kind = DiskOpKind::Read,
                                            .offset = start,
                                            .length = end - start,
                                            .iov = std::span(&v, 1),
                                            .fd = fd_,
                                            .stop_at_eof = true});
    if (err != 0) {
        co_return err;
    }
    const auto data = in.subspan(m.host - start, std::min<uint64_t>(m.compressed_bytes, end - m.host));
    if (!decompress_cluster(h_.compression, data, cluster)) {
        corrupt(fmt::format("compressed cluster at 0x{:x} does not decompress", m.host));
        co_return EIO;
    }
    co_return 0;
}

Task<int> Qcow2Image::read_run(uint64_t guest, Run run, std::span<const iovec> iov)
{
    switch (run.kind) {
    case ClusterKind::Normal:
        if (!host_range_ok(run.host, run.bytes, false)) {
            co_return EIO;
        }
        co_return co_await io_.run(
            DiskOp{.kind = DiskOpKind::Read, .offset = run.host, .length = run.bytes, .iov = iov, .fd = fd_});
    case ClusterKind::Zero: zero_iov_range(iov, 0, run.bytes); co_return 0;
    case ClusterKind::Unallocated:
        if (backing_ == nullptr) {
            zero_iov_range(iov, 0, run.bytes);
            co_return 0;
        }
        co_return co_await backing_->read(guest, iov);
    case ClusterKind::Compressed: {
        auto lease = co_await buffers_.acquire(2);
        const auto cluster = lease[1].first(h_.cluster_size());
        if (const int err = co_await read_compressed(run.mapping, lease[0], cluster); err != 0) {
            co_return err;
        }
        copy_to_iov(iov, 0, cluster.subspan(guest & (h_.cluster_size() - 1), run.bytes));
        co_return 0;
    }
    }
    co_return EIO;
}

Task<int> Qcow2Image::read(uint64_t offset, std::span<const iovec> iov)
{
    const uint64_t length = iov_bytes(iov);
    const uint64_t inside = offset >= h_.size ? 0 : std::min(length, h_.size - offset);
    if (inside < length) {
        zero_iov_range(iov, inside, length - inside);
    }
    for (uint64_t at = 0; at < inside;) {
        const uint64_t guest = offset + at;
        const uint64_t l1 = l1_index(guest);
        if (l2_table_offset(l1) != 0 && cache_.find(l1) == nullptr) {
            if (const int err = co_await load_table(l1); err != 0) {
                co_return err;
            }
            continue; // evicted again meanwhile? look again
        }
        const auto run = run_at(guest, inside - at);
        if (!run) {
            co_return EIO;
        }
        if (at == 0 && run->bytes == length) {
            // The whole request in one run (the common case): no copy of the iovecs, and for
            // data in this file no further coroutine.
            if (run->kind == ClusterKind::Normal) {
                if (!host_range_ok(run->host, run->bytes, false)) {
                    co_return EIO;
                }
                co_return co_await io_.run(DiskOp{
                    .kind = DiskOpKind::Read, .offset = run->host, .length = run->bytes, .iov = iov, .fd = fd_});
            }
            co_return co_await read_run(guest, *run, iov);
        }
        std::vector<iovec> part;
        append_iov_range(iov, at, run->bytes, part);
        if (const int err = co_await read_run(guest, *run, part); err != 0) {
            co_return err;
        }
        at += run->bytes;
    }
    co_return 0;
}

uint64_t Qcow2Image::begin_request()
{
    const uint64_t seq = next_seq_++;
    ended_.push_back(false);
    return seq;
}

void Qcow2Image::end_request(uint64_t seq)
{
    if (seq < front_seq_ || seq - front_seq_ >= ended_.size()) {
        return;
    }
    ended_[seq - front_seq_] = true;
    while (!ended_.empty() && ended_.front()) {
        ended_.pop_front();
        ++front_seq_;
    }
    request_ended_.wake_all(scheduler_);
}

Task<void> Qcow2Image::wait_for_requests_before(uint64_t seq)
{
    while (oldest_running() < seq) {
        co_await request_ended_.wait();
    }
}

} // namespace minivmm::backends::qcow2
