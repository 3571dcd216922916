// Host cluster allocation and refcounts of a writable qcow2 image (qcow2.txt "Host cluster
// management"). Allocation is in memory: a bitmap of the clusters in use (built from the
// refcount blocks when the image was opened) finds free runs, and each allocation or free
// is recorded as a refcount change. The changes reach the refcount blocks only in a
// write-back round, as its first step (refcount before use): begin_round() takes them,
// giving clusters past the refcount blocks' reach new blocks (and the refcount table a new,
// larger place when it is full), write_blocks() writes the blocks, write_table() the table.
//
// A cluster freed because an L2 or L1 entry stopped pointing at it (free_later) keeps its
// refcount until a round has made that change durable and no request that began before
// it is still running; only then is it counted down, and reused once its count reaches 0
// (its host space punched out first). A cluster that no on-disk table ever pointed at
// (free_now: its write failed) is given back at once.
#pragma once

#include "backends/block/aligned_buffer.hpp"
#include "backends/block/async_task.hpp"
#include "backends/block/io_engine.hpp"
#include "backends/block/qcow2/qcow2_metadata.hpp"
#include "util/guest_log.hpp"

#include <cstdint>
#include <map>
#include <set>
#include <unordered_map>
#include <vector>

namespace minivmm::backends::qcow2 {

class Allocator final {
public:
    static constexpr std::size_t kBlockCacheSize = 64;

    // `log` takes what a guest's writes can make it say (rate-limited).
    Allocator(Metadata& metadata, IoEngine& io, int fd, util::GuestLog& log);

    // `n` contiguous free clusters, in use from now on; the host offset of the first.
    [[nodiscard]] uint64_t allocate(uint64_t n);
    // Host cluster `cluster` (an index) was allocated but nothing on disk points at it.
    void free_now(uint64_t cluster);
    // Nothing in memory points at host cluster `cluster` any more; requests that began
    // before `request_seq` may still be using it.
    void free_later(uint64_t cluster, uint64_t request_seq);
    // Refcount changes or frees are waiting for a round.
    [[nodiscard]] bool pending() const { return !deltas_.empty() || !frees_.empty(); }
    [[nodiscard]] bool deltas_pending() const { return !deltas_.empty(); }

    struct Round {
        uint64_t number = 0;
        std::map<uint64_t, int64_t> deltas;   // host cluster -> refcount change
        std::set<uint64_t> table_entries;    // refcount table entries that now point at new blocks
        bool table_moved = false;            // the refcount table has a new place (the header must follow)
        std::vector<uint64_t> free_after;    // clusters to free once the round is complete
    };
    // Starts write-back round `number`: frees made durable by an earlier round and no longer
    // in use by requests older than `oldest_request` become refcount changes; every change
    // so far is taken; refcount blocks (and table space) are allocated for them in memory.
    // Frees recorded until now are durable once this round completes.
    // Returns 0, or an errno when the refcount table cannot grow.
    [[nodiscard]] int begin_round(Round& round, uint64_t oldest_request);
    // Applies the round's changes to the refcount blocks and writes the blocks changed;
    // clusters whose count reaches 0 are punched out of the file and become free.
    [[nodiscard]] Task<int> write_blocks(Round& round);
    // Writes the refcount table entries that changed (or the whole table, moved).
    [[nodiscard]] Task<int> write_table(const Round& round);
    // The round is on disk (ok) or failed: frees it covered become due, or uncovered again.
    void end_round(Round& round, bool ok);

private:
    struct Block {
        AlignedBuffer data;
        bool dirty = false;
        uint64_t last_use = 0;
    };
    struct Free {
        uint64_t cluster = 0;
        uint64_t request_seq = 0;
        uint64_t round = 0; // the round that makes it durable; 0: none yet
    };

    [[nodiscard]] uint64_t find_run(uint64_t n) const;
    [[nodiscard]] uint64_t allocate_into(uint64_t n, std::map<uint64_t, int64_t>& deltas);
    [[nodiscard]] int grow_table(Round& round, uint64_t min_entries);
    [[nodiscard]] Task<int> load_block(uint64_t index);
    void trim_blocks();

    Metadata& m_;
    IoEngine& io_;
    int fd_;
    util::GuestLog& log_;
    uint64_t cluster_bits_;
    uint64_t refblock_entries_;
    uint64_t hint_ = 0; // no free cluster below this
    std::map<uint64_t, int64_t> deltas_;
    std::vector<Free> frees_;
    std::unordered_map<uint64_t, Block> blocks_; // refcount table index -> block
    uint64_t clock_ = 0;
};

} // namespace minivmm::backends::qcow2
