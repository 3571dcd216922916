// io_uring disk backend: one slot per op in flight, each op carried through short
// transfers and fallocate fallbacks by resubmitting its next step.
#include "backends/block/io_uring_backend.hpp"

#include "backends/block/iov_range.hpp"

#include "util/sys_error.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <optional>

namespace minivmm::backends {

namespace {

bool mutates(DiskOpKind kind) { return kind != DiskOpKind::Read && kind != DiskOpKind::Flush; }

bool transient(int result) { return result == -EINTR || result == -EAGAIN; }

// Carries a byte-counting step on: the final errno, or nullopt while bytes remain.
std::optional<int> progress(int result, uint64_t& done, uint64_t length)
{
    if (transient(result)) {
        return std::nullopt;
    }
    if (result < 0) {
        return -result;
    }
    if (result == 0) {
        return EIO; // end of file (the image shrank) or no progress
    }
    done += static_cast<uint64_t>(result);
    return done >= length ? std::optional<int>(0) : std::nullopt;
}

} // namespace

std::unique_ptr<IoUringBackend> IoUringBackend::create(int fd, std::size_t depth, std::string& why_not)
{
    io_uring ring{};
    const int r = io_uring_queue_init(static_cast<unsigned>(std::clamp<std::size_t>(depth, 1, 4096)), &ring, 0);
    if (r < 0) {
        why_not = fmt::format("io_uring_queue_init failed: {}", std::strerror(-r));
        return nullptr;
    }
    io_uring_probe* probe = io_uring_get_probe_ring(&ring);
    const bool complete = probe != nullptr && io_uring_opcode_supported(probe, IORING_OP_READV) &&
                          io_uring_opcode_supported(probe, IORING_OP_WRITEV) &&
                          io_uring_opcode_supported(probe, IORING_OP_WRITE) &&
                          io_uring_opcode_supported(probe, IORING_OP_FSYNC) &&
                          io_uring_opcode_supported(probe, IORING_OP_FALLOCATE);
    if (probe != nullptr) {
        io_uring_free_probe(probe);
    }
    if (!complete) {
        io_uring_queue_exit(&ring);
        why_not = "io_uring lacks readv, writev, write, fsync or fallocate (kernel older than 5.6)";
        return nullptr;
    }
    util::UniqueFd event_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!event_fd) {
        const int err = errno;
        io_uring_queue_exit(&ring);
        util::throw_sys_error("eventfd for io_uring completions", err);
    }
    if (const int e = io_uring_register_eventfd(&ring, event_fd.get()); e < 0) {
        io_uring_queue_exit(&ring);
        why_not = fmt::format("io_uring_register_eventfd failed: {}", std::strerror(-e));
        return nullptr;
    }
    return std::unique_ptr<IoUringBackend>(new IoUringBackend(fd, ring, std::move(event_fd), depth));
}

// `ring` holds only pointers into the kernel's ring mappings, so it may be moved by value.
IoUringBackend::IoUringBackend(int fd, io_uring ring, util::UniqueFd event_fd, std::size_t depth)
    : fd_(fd), ring_(ring), event_fd_(std::move(event_fd)),
      slots_(std::clamp<std::size_t>(depth, 1, ring.sq.ring_entries))
{
    free_.reserve(slots_.size());
    for (std::size_t i = slots_.size(); i > 0; --i) {
        free_.push_back(i - 1);
    }
    done_.reserve(slots_.size());
}

IoUringBackend::~IoUringBackend()
{
    std::vector<Completion> ignored;
    drain(ignored);
    io_uring_queue_exit(&ring_);
}

bool IoUringBackend::submit(Tag tag, const DiskOp& op)
{
    if (free_.empty()) {
        return false;
    }
    const std::size_t index = free_.back();
    free_.pop_back();
    Slot& slot = slots_[index];
    slot.busy = true;
    slot.waiting_for_writes = false;
    slot.tag = tag;
    slot.op = op;
    slot.op.iov = {};
    slot.seq = next_seq_++;
    slot.done = 0;
    slot.stage = 0;
    ++busy_;
    if (op.kind == DiskOpKind::Read || op.kind == DiskOpKind::Write) {
        slot.cursor.reset(op.iov);
        if (slot.cursor.done()) {
            finish(index, 0);
            (void)::eventfd_write(event_fd_.get(), 1);
            return true;
        }
    }
    if (op.kind == DiskOpKind::Flush && writes_before(slot.seq)) {
        slot.waiting_for_writes = true;
        ++waiting_flushes_;
        return true;
    }
    start(index); // queued: commit() or the next reap() sends it
    return true;
}

void IoUringBackend::start(std::size_t index)
{
    if (!queue(index)) {
        finish(index, EAGAIN);
        (void)::eventfd_write(event_fd_.get(), 1);
    }
}

bool IoUringBackend::queue(std::size_t index)
{
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
        push_submissions();
        sqe = io_uring_get_sqe(&ring_);
        if (sqe == nullptr) {
            return false;
        }
    }
    Slot& slot = slots_[index];
    const DiskOp& op = slot.op;
    const auto iov = slot.cursor.remaining();
    const auto count = static_cast<unsigned>(std::min<std::size_t>(iov.size(), IOV_MAX));
    const int fd = op.fd >= 0 ? op.fd : fd_;
    slot.asked = op.stop_at_eof ? iov_bytes(iov.first(count)) : 0;
    switch (op.kind) {
    case DiskOpKind::Read: io_uring_prep_readv(sqe, fd, iov.data(), count, op.offset + slot.done); break;
    case DiskOpKind::Write: io_uring_prep_writev(sqe, fd, iov.data(), count, op.offset + slot.done); break;
    case DiskOpKind::Flush: io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC); break;
    case DiskOpKind::Discard:
    case DiskOpKind::WriteZeroes:
    case DiskOpKind::WriteZeroesUnmap:
        if (const auto modes = fallocate_modes(op.kind); slot.stage < modes.size()) {
            io_uring_prep_fallocate(sqe, fd, modes[slot.stage], static_cast<off_t>(op.offset),
                                    static_cast<off_t>(op.length));
        } else {
            const auto zeros = zero_chunk();
            const auto step = static_cast<unsigned>(std::min<uint64_t>(op.length - slot.done, zeros.size()));
            io_uring_prep_write(sqe, fd, zeros.data(), step, op.offset + slot.done);
        }
        break;
    }
    io_uring_sqe_set_data64(sqe, index);
    return true;
}

void IoUringBackend::push_submissions()
{
    if (io_uring_sq_ready(&ring_) == 0) {
        return;
    }
    const int r = io_uring_submit(&ring_);
    if (r < 0 && !transient(r)) {
        // The SQEs stay queued and go with the next submit or reap.
        spdlog::warn("io_uring_submit failed: {}", std::strerror(-r));
    }
}

std::optional<int> IoUringBackend::advance(Slot& slot, int result)
{
    const DiskOp& op = slot.op;
    switch (op.kind) {
    case DiskOpKind::Read:
    case DiskOpKind::Write: {
        if (op.stop_at_eof && result >= 0 && static_cast<uint64_t>(result) < slot.asked) {
            return 0; // the end of the file
        }
        const auto step = progress(result, slot.done, op.length);
        if (!step && result > 0) {
            slot.cursor.advance(static_cast<std::size_t>(result));
        }
        return step;
    }
    case DiskOpKind::Flush:
        if (transient(result)) {
            return std::nullopt;
        }
        return result < 0 ? -result : 0;
    case DiskOpKind::Discard:
    case DiskOpKind::WriteZeroes:
    case DiskOpKind::WriteZeroesUnmap: break;
    }
    const auto modes = fallocate_modes(op.kind);
    if (slot.stage >= modes.size()) {
        return progress(result, slot.done, op.length); // writing zeros
    }
    if (result >= 0) {
        return 0;
    }
    if (transient(result)) {
        return std::nullopt;
    }
    if (!fallocate_refused(-result)) {
        return -result;
    }
    ++slot.stage;
    if (slot.stage < modes.size() || writes_zeroes_when_refused(op.kind)) {
        return std::nullopt;
    }
    return 0; // a discard the filesystem cannot do: it was only a hint
}

void IoUringBackend::finish(std::size_t index, int error)
{
    Slot& slot = slots_[index];
    slot.busy = false;
    --busy_;
    free_.push_back(index);
    done_.push_back(Completion{slot.tag, error});
}

bool IoUringBackend::writes_before(uint64_t seq) const
{
    return std::any_of(slots_.begin(), slots_.end(), [seq](const Slot& slot) {
        return slot.busy && mutates(slot.op.kind) && slot.seq < seq;
    });
}

void IoUringBackend::release_flushes()
{
    for (std::size_t i = 0; i < slots_.size() && waiting_flushes_ > 0; ++i) {
        Slot& slot = slots_[i];
        if (slot.busy && slot.waiting_for_writes && !writes_before(slot.seq)) {
            slot.waiting_for_writes = false;
            --waiting_flushes_;
            start(i);
        }
    }
}

void IoUringBackend::collect()
{
    io_uring_cqe* cqe = nullptr;
    while (io_uring_peek_cqe(&ring_, &cqe) == 0 && cqe != nullptr) {
        const uint64_t index = io_uring_cqe_get_data64(cqe);
        const int result = cqe->res;
        io_uring_cqe_seen(&ring_, cqe);
        if (index >= slots_.size() || !slots_[index].busy) {
            continue;
        }
        if (const auto error = advance(slots_[index], result)) {
            finish(index, *error);
        } else {
            start(index);
        }
    }
    release_flushes();
    push_submissions();
}

void IoUringBackend::reap(std::vector<Completion>& out)
{
    uint64_t count = 0;
    // Clear the eventfd before looking, so a CQE posted after the look raises it again.
    (void)::read(event_fd_.get(), &count, sizeof(count));
    collect();
    out.insert(out.end(), done_.begin(), done_.end());
    done_.clear();
}

void IoUringBackend::drain(std::vector<Completion>& out)
{
    for (;;) {
        collect();
        if (busy_ == 0) {
            break;
        }
        io_uring_cqe* cqe = nullptr;
        const int r = io_uring_wait_cqe(&ring_, &cqe);
        if (r < 0 && !transient(r)) {
            spdlog::error("io_uring_wait_cqe failed with {} ops in flight: {}", busy_, std::strerror(-r));
            break;
        }
    }
    reap(out);
}

} // namespace minivmm::backends
