// Disk I/O for coroutines: `co_await engine.run(op)` starts a DiskOp on an inner backend
// (io_uring, or synchronous I/O) and resumes the coroutine with its errno when it is done.
// Ops beyond the inner backend's capacity wait their turn in submission order. The inner
// backend works on the image's file; an op may name another (a backing file) in DiskOp::fd.
#pragma once

#include "backends/block/async_task.hpp"
#include "backends/block/block_backend.hpp"

#include <coroutine>
#include <deque>
#include <memory>
#include <vector>

namespace minivmm::backends {

class IoEngine final {
public:
    IoEngine(std::unique_ptr<BlockBackend> inner, Scheduler& scheduler);
    ~IoEngine();
    IoEngine(const IoEngine&) = delete;
    IoEngine& operator=(const IoEngine&) = delete;

    class [[nodiscard]] Op final {
    public:
        Op(IoEngine& engine, const DiskOp& op) : engine_(engine), op_(op) {}
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<> h)
        {
            handle_ = h;
            engine_.start(*this);
        }
        [[nodiscard]] int await_resume() const noexcept { return result_; }

    private:
        friend class IoEngine;
        IoEngine& engine_;
        DiskOp op_;
        std::coroutine_handle<> handle_;
        int result_ = 0;
    };

    // The op's buffers (op.iov and what it points at) must stay valid until it resumes.
    [[nodiscard]] Op run(const DiskOp& op) { return Op(*this, op); }
    // Starts all of `ops` at once and resumes when every one is done: 0, or the first errno.
    [[nodiscard]] Task<int> run_all(std::vector<DiskOp> ops);

    // Hands what the inner backend finished to the scheduler, and starts waiting ops.
    void collect();
    // As collect(), after blocking until the inner backend has nothing in flight.
    void wait_and_collect();
    void commit() { inner_->commit(); }
    [[nodiscard]] int completion_fd() const { return inner_->completion_fd(); }
    [[nodiscard]] std::size_t in_flight() const { return busy_ + queued_.size(); }
    [[nodiscard]] std::string_view name() const { return inner_->name(); }
    void add_syscalls(util::SeccompPolicy& policy) const { inner_->add_syscalls(policy); }

private:
    struct Join {
        std::size_t left = 0;
        int error = 0;
        WaitList done;
    };
    static Detached run_one(IoEngine& engine, DiskOp op, Join& join);
    void start(Op& op);
    void deliver(const std::vector<BlockBackend::Completion>& done);
    void start_queued();

    std::unique_ptr<BlockBackend> inner_;
    Scheduler& scheduler_;
    std::vector<Op*> slots_; // by inner tag; nullptr when free
    std::vector<BlockBackend::Tag> free_;
    std::size_t busy_ = 0;
    std::deque<Op*> queued_;
    std::vector<BlockBackend::Completion> completions_;
};

} // namespace minivmm::backends
