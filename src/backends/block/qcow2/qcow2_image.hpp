// One qcow2 image at run time: reads through its L1/L2 tables (an L2 cache in front),
// zero and compressed clusters, and the backing layer below; and, for the writable top of a
// chain, writes with cluster allocation and copy-on-write, write-zeroes and discard as zero
// clusters or deallocation, and the metadata write-back whose order makes a crash leak
// clusters but never corrupt the image (qcow2_writeback.cpp). Every step that waits for the
// disk is a coroutine on the IoEngine, so a request that allocates, loads a table or copies
// a cluster does not hold up requests elsewhere on the disk.
//
// Concurrency (one thread): requests that change the mapping of a guest cluster (a write
// that allocates, write-zeroes, discard) hold a lock on that cluster range, so two never
// interleave; writes into clusters already allocated to this image take no lock. Metadata
// changes are made in memory first and reach the file only through write_back(). A freed
// cluster is reused only after the table change that freed it is on disk and every request
// that started before the change has finished (no read or write is still aimed at it).
//
// Host memory, per image, whatever the guest does: the L2 cache (min(whole disk, cache bytes
// given) of tables; dirty tables may push it to twice that until the write-back they start),
// the refcount block cache (64 blocks) and, grown on first use, 8 to 64 buffers of 2 clusters
// + 4 KiB for copy-on-write and compressed clusters (16 MiB, or 32 MiB with 2 MiB clusters).
// For a 64 KiB-cluster disk of up to 256 GiB that is at most 64 + 4 + 8.4 MiB.
#pragma once

#include "backends/block/async_task.hpp"
#include "backends/block/disk_chain.hpp"
#include "backends/block/image_layer.hpp"
#include "backends/block/io_engine.hpp"
#include "backends/block/qcow2/l2_cache.hpp"
#include "backends/block/qcow2/qcow2_allocator.hpp"
#include "backends/block/qcow2/cluster_buffers.hpp"
#include "util/guest_log.hpp"

#include <cstdint>
#include <deque>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

namespace minivmm::backends::qcow2 {

class Qcow2Image final : public ImageLayer {
public:
    // What a guest's requests make this image log goes through this (rate-limited).
    [[nodiscard]] util::GuestLog& log() { return log_; }
    // `image` (qcow2) must outlive this; `backing` is the layer below, or nullptr.
    Qcow2Image(ChainImage& image, IoEngine& io, Scheduler& scheduler, ImageLayer* backing, uint64_t l2_cache_bytes);

    [[nodiscard]] uint64_t size() const override { return h_.size; }
    [[nodiscard]] Task<int> read(uint64_t offset, std::span<const iovec> iov) override;

    // The writable top of a chain only. Each returns 0 or an errno for the guest.
    // `iov` (the array) must stay valid until the write is done.
    [[nodiscard]] Task<int> write(uint64_t offset, std::span<const iovec> iov);
    [[nodiscard]] Task<int> write_zeroes(uint64_t offset, uint64_t length, bool unmap);
    [[nodiscard]] Task<int> discard(uint64_t offset, uint64_t length);
    // Writes every metadata change made so far and syncs the file, data first (see
    // qcow2_writeback.cpp for the order). One at a time; a call while one runs waits for it
    // and then runs its own.
    [[nodiscard]] Task<int> write_back();
    [[nodiscard]] bool durable() const { return durable_; }
    // A write-back started by the image itself (cache pressure) is still running.
    [[nodiscard]] bool background_running() const { return background_pending_; }
    // Whether write_back() has anything to write (metadata, or frees to record).
    [[nodiscard]] bool metadata_pending() const;

    // Request bookkeeping for reusing freed clusters safely: every guest request holds a
    // sequence number from begin_request() until end_request().
    [[nodiscard]] uint64_t begin_request();
    void end_request(uint64_t seq);
    // Suspends until no request that began before `seq` is still running.
    [[nodiscard]] Task<void> wait_for_requests_before(uint64_t seq);

private:
    struct Run {
        ClusterKind kind = ClusterKind::Unallocated;
        uint64_t bytes = 0;
        uint64_t host = 0;       // Normal: host offset of the run's first byte
        ClusterMapping mapping;  // Compressed: the one cluster's descriptor
    };

    // --- mapping (qcow2_image.cpp) ---
    [[nodiscard]] uint64_t l2_shift() const { return h_.cluster_bits * 2 - 3; }
    [[nodiscard]] uint64_t l1_index(uint64_t guest) const { return guest >> l2_shift(); }
    [[nodiscard]] uint64_t l2_index(uint64_t guest) const { return (guest >> h_.cluster_bits) & (h_.l2_entries() - 1); }
    [[nodiscard]] uint64_t l2_table_offset(uint64_t l1) const;
    // The table for `l1` in the cache, or nullptr when it must be loaded (or there is none).
    [[nodiscard]] L2Cache::Table* cached_table(uint64_t l1);
    // Loads the table for `l1` into the cache (nothing when the L1 entry is empty).
    [[nodiscard]] Task<int> load_table(uint64_t l1);
    [[nodiscard]] std::optional<ClusterMapping> mapping_in(const L2Cache::Table* table, uint64_t guest);
    // The longest run of like clusters at `guest` (at most `max` bytes, within one table);
    // nullopt for a corrupt entry. The table must be cached (or the L1 entry empty).
    [[nodiscard]] std::optional<Run> run_at(uint64_t guest, uint64_t max);
    [[nodiscard]] bool host_range_ok(uint64_t host, uint64_t bytes, bool for_write);
    // Decompresses the cluster `m` describes into `cluster`, reading it into `in` (a buffer
    // of buffers_).
    [[nodiscard]] Task<int> read_compressed(ClusterMapping m, std::span<std::byte> in, std::span<std::byte> cluster);
    [[nodiscard]] Task<int> read_run(uint64_t guest, Run run, std::span<const iovec> iov);
    void corrupt(const std::string& what);

    // --- writing (qcow2_write.cpp) ---
    // The table for `l1`, loaded and owned by this image alone (created or copied when it is
    // not), for changing entries; nullptr with `error` set on failure.
    [[nodiscard]] Task<int> make_table_writable(uint64_t l1);
    [[nodiscard]] Task<int> write_in_table(uint64_t offset, std::span<const iovec> iov, uint64_t at, uint64_t length);
    [[nodiscard]] Task<int> allocate_and_write(uint64_t first_cluster, uint64_t clusters, uint64_t offset,
                                               std::span<const iovec> iov, uint64_t at, uint64_t length);
    // The guest cluster's contents as its current mapping gives them, into `out`.
    [[nodiscard]] Task<int> old_contents(uint64_t guest_cluster, ClusterMapping m, std::span<std::byte> out,
                                         std::span<std::byte> scratch);
    void set_entry(uint64_t guest_cluster, uint64_t entry);
    void release_mapping(const ClusterMapping& m);
    [[nodiscard]] bool cluster_range_locked(uint64_t first, uint64_t end) const;
    // Holds guest clusters [first, end) against other mapping changes until it goes (also
    // when an exception unwinds the coroutine holding it).
    class ClusterLock final {
    public:
        ClusterLock(Qcow2Image* owner, uint64_t first, uint64_t end) : owner_(owner), first_(first), end_(end) {}
        ClusterLock(ClusterLock&& other) noexcept
            : owner_(std::exchange(other.owner_, nullptr)), first_(other.first_), end_(other.end_)
        {
        }
        ClusterLock& operator=(ClusterLock&&) = delete;
        ClusterLock(const ClusterLock&) = delete;
        ~ClusterLock()
        {
            if (owner_ != nullptr) {
                owner_->unlock_clusters(first_, end_);
            }
        }

    private:
        Qcow2Image* owner_;
        uint64_t first_;
        uint64_t end_;
    };
    [[nodiscard]] Task<ClusterLock> lock_clusters(uint64_t first, uint64_t end);
    void unlock_clusters(uint64_t first, uint64_t end);
    void note_written(uint64_t host_end);

    // --- write-zeroes and discard (qcow2_zero.cpp) ---
    enum class ZeroMode { Discard, Zero, ZeroUnmap };
    [[nodiscard]] Task<int> zero_range(uint64_t offset, uint64_t length, ZeroMode mode);
    [[nodiscard]] Task<int> zero_partial(uint64_t offset, uint64_t length);
    [[nodiscard]] Task<int> zero_clusters(uint64_t first, uint64_t end, ZeroMode mode);

    // --- write-back (qcow2_writeback.cpp) ---
    [[nodiscard]] Task<int> write_back_once();
    [[nodiscard]] Task<int> sync_file();
    [[nodiscard]] Task<int> write_l1_entries(const std::vector<uint64_t>& indexes);
    [[nodiscard]] Task<int> write_header();
    void start_background_write_back();
    Detached background_write_back();

    ChainImage& image_;
    Metadata& m_;
    const Header& h_;
    int fd_;
    IoEngine& io_;
    Scheduler& scheduler_;
    ImageLayer* backing_;
    bool writable_;
    bool durable_;
    uint64_t file_end_; // bytes the file holds, or will once the writes in flight are done
    L2Cache cache_;
    std::unordered_map<uint64_t, WaitList> loading_; // L1 index -> coroutines waiting for it
    ClusterBuffers buffers_;
    // What a guest's requests make this image log (broken metadata met at run time, a full
    // refcount table, failed requests), rate-limited.
    util::GuestLog log_;
    Allocator allocator_;

    std::vector<std::pair<uint64_t, uint64_t>> locked_; // guest cluster ranges [first, end)
    WaitList unlocked_;
    std::set<uint64_t> dirty_l1_; // L1 indexes changed in memory
    bool header_dirty_ = false;
    bool failed_ = false; // a metadata write failed: what is on disk is uncertain, writes get EIO

    // Requests by sequence number, oldest first: front_seq_ is the first entry's number, and
    // an entry is true once its request ended (dropped when it reaches the front).
    uint64_t next_seq_ = 1;
    uint64_t front_seq_ = 1;
    std::deque<bool> ended_;
    WaitList request_ended_;
    [[nodiscard]] uint64_t oldest_running() const { return ended_.empty() ? UINT64_MAX : front_seq_; }

    bool writing_back_ = false;
    bool background_pending_ = false;
    WaitList write_back_done_;
    uint64_t rounds_ = 0; // write-backs begun
};

} // namespace minivmm::backends::qcow2
