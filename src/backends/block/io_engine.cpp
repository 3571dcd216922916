// Awaitable disk ops on top of a BlockBackend.
#include "backends/block/io_engine.hpp"

#include <cerrno>

namespace minivmm::backends {

IoEngine::IoEngine(std::unique_ptr<BlockBackend> inner, Scheduler& scheduler)
    : inner_(std::move(inner)), scheduler_(scheduler), slots_(inner_->capacity(), nullptr)
{
    for (std::size_t i = slots_.size(); i > 0; --i) {
        free_.push_back(static_cast<BlockBackend::Tag>(i - 1));
    }
    completions_.reserve(slots_.size());
}

IoEngine::~IoEngine()
{
    // Whoever owns the coroutines waits for them first; this only makes sure the kernel
    // is done with every buffer before the inner backend goes.
    completions_.clear();
    inner_->drain(completions_);
}

Detached IoEngine::run_one(IoEngine& engine, DiskOp op, Join& join)
{
    const int err = co_await engine.run(op);
    if (err != 0 && join.error == 0) {
        join.error = err;
    }
    if (--join.left == 0) {
        join.done.wake_all(engine.scheduler_);
    }
}

Task<int> IoEngine::run_all(std::vector<DiskOp> ops)
{
    Join join;
    join.left = ops.size();
    for (const DiskOp& op : ops) {
        run_one(*this, op, join); // runs until its op is submitted, then comes back here
    }
    while (join.left > 0) {
        co_await join.done.wait();
    }
    co_return join.error;
}

void IoEngine::start(Op& op)
{
    if (!queued_.empty() || free_.empty()) {
        queued_.push_back(&op);
        return;
    }
    const BlockBackend::Tag tag = free_.back();
    if (!inner_->submit(tag, op.op_)) {
        queued_.push_back(&op);
        return;
    }
    free_.pop_back();
    slots_[tag] = &op;
    ++busy_;
}

void IoEngine::start_queued()
{
    while (!queued_.empty() && !free_.empty()) {
        Op* op = queued_.front();
        const BlockBackend::Tag tag = free_.back();
        if (!inner_->submit(tag, op->op_)) {
            return;
        }
        queued_.pop_front();
        free_.pop_back();
        slots_[tag] = op;
        ++busy_;
    }
}

void IoEngine::deliver(const std::vector<BlockBackend::Completion>& done)
{
    for (const auto& c : done) {
        if (c.tag >= slots_.size() || slots_[c.tag] == nullptr) {
            continue;
        }
        Op* op = slots_[c.tag];
        slots_[c.tag] = nullptr;
        free_.push_back(c.tag);
        --busy_;
        op->result_ = c.error;
        scheduler_.post(op->handle_);
    }
    start_queued();
}

void IoEngine::collect()
{
    completions_.clear();
    inner_->reap(completions_);
    deliver(completions_);
}

void IoEngine::wait_and_collect()
{
    completions_.clear();
    inner_->drain(completions_);
    deliver(completions_);
}

} // namespace minivmm::backends
