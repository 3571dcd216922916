// io_uring disk backend (liburing): readv/writev straight on the caller's iovecs, fsync
// with IORING_FSYNC_DATASYNC, fallocate. Completions raise an eventfd registered with the
// ring, which the device watches on the I/O thread; nothing here ever blocks except drain().
//
// Ordering: a flush waits (unsubmitted) until every write, discard and write-zeroes
// submitted before it has completed, including the resubmitted tail of a short write,
// which IOSQE_IO_DRAIN alone would not cover.
#pragma once

#include "backends/block/block_backend.hpp"
#include "backends/block/disk_op_steps.hpp"
#include "util/unique_fd.hpp"

#include <liburing.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace minivmm::backends {

class IoUringBackend final : public BlockBackend {
public:
    // A ring of `depth` entries for `fd` (owned by the caller, outliving the backend), or
    // nullptr with `why_not` set when this kernel or sandbox offers no usable io_uring.
    [[nodiscard]] static std::unique_ptr<IoUringBackend> create(int fd, std::size_t depth, std::string& why_not);
    // Waits for every op in flight: the kernel may still be writing into the caller's buffers.
    ~IoUringBackend() override;
    IoUringBackend(const IoUringBackend&) = delete;
    IoUringBackend& operator=(const IoUringBackend&) = delete;

    [[nodiscard]] std::string_view name() const override { return "io_uring"; }
    [[nodiscard]] std::size_t capacity() const override { return slots_.size(); }
    [[nodiscard]] std::size_t in_flight() const override { return busy_ + done_.size(); }
    [[nodiscard]] bool submit(Tag tag, const DiskOp& op) override;
    void commit() override { push_submissions(); }
    [[nodiscard]] int completion_fd() const override { return event_fd_.get(); }
    void reap(std::vector<Completion>& out) override;
    void drain(std::vector<Completion>& out) override;

    // Submitting and waiting (io_uring_enter); the ops run in the kernel, not as system calls
    // of ours. Tearing the ring down unmaps and closes it (base lists).
    void add_syscalls(util::SeccompPolicy& policy) const override
    {
        policy.allow(util::kDeviceThreads, {"io_uring_enter"});
    }

private:
    // One op from submit() to its report. `stage` indexes fallocate_modes(kind); past the
    // end the op writes zeros from zero_chunk().
    struct Slot {
        bool busy = false;
        bool waiting_for_writes = false; // a flush held back by earlier writes
        Tag tag = 0;
        DiskOp op;
        uint64_t seq = 0; // submission order, for flush ordering
        uint64_t done = 0;
        uint64_t asked = 0; // stop_at_eof reads: bytes the queued SQE asks for
        std::size_t stage = 0;
        IovCursor cursor;
    };

    IoUringBackend(int fd, io_uring ring, util::UniqueFd event_fd, std::size_t depth);

    // Queues the slot's next SQE. False if the SQ has no room (cannot happen while busy_
    // stays within the ring size); start() then reports the op as failed with EAGAIN.
    [[nodiscard]] bool queue(std::size_t index);
    void start(std::size_t index);
    void push_submissions();
    // Takes one CQE's result: the op's final errno (0: done), or nullopt to queue its next step.
    [[nodiscard]] std::optional<int> advance(Slot& slot, int result);
    void finish(std::size_t index, int error);
    [[nodiscard]] bool writes_before(uint64_t seq) const;
    void release_flushes();
    void collect();

    int fd_;
    io_uring ring_;
    util::UniqueFd event_fd_;
    std::vector<Slot> slots_;
    std::vector<std::size_t> free_;
    std::size_t busy_ = 0;
    std::size_t waiting_flushes_ = 0;
    uint64_t next_seq_ = 0;
    std::vector<Completion> done_;
};

} // namespace minivmm::backends
