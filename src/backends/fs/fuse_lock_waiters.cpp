#include "backends/fs/fuse_lock_waiters.hpp"

#include "backends/fs/fuse_reply.hpp"

#include <cerrno>

namespace minivmm::backends {

FuseLockWaiters::FuseLockWaiters(Complete complete) : complete_(std::move(complete)), thread_([this] { run(); }) {}

FuseLockWaiters::~FuseLockWaiters()
{
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
        waiters_.clear();
    }
    wake_.notify_all();
    thread_.join();
}

void FuseLockWaiters::park(Waiter waiter)
{
    {
        std::lock_guard lock(mutex_);
        waiters_.push_back(std::move(waiter));
        poked_ = true; // the holder may have let go between the attempt and now
    }
    wake_.notify_all();
}

void FuseLockWaiters::poke()
{
    {
        std::lock_guard lock(mutex_);
        if (waiters_.empty()) {
            return;
        }
        poked_ = true;
    }
    wake_.notify_all();
}

bool FuseLockWaiters::interrupt(uint64_t unique)
{
    std::lock_guard lock(mutex_);
    for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
        if (it->unique == unique) {
            answer_locked(*it, EINTR);
            waiters_.erase(it);
            return true;
        }
    }
    return false;
}

void FuseLockWaiters::reset()
{
    std::lock_guard lock(mutex_);
    waiters_.clear();
}

size_t FuseLockWaiters::parked() const
{
    std::lock_guard lock(mutex_);
    return waiters_.size();
}

void FuseLockWaiters::answer_locked(Waiter& waiter, int error)
{
    FuseReply reply(waiter.out, waiter.unique);
    complete_(waiter.token, error == 0 ? reply.empty() : reply.error(error));
}

void FuseLockWaiters::retry_locked()
{
    for (auto it = waiters_.begin(); it != waiters_.end();) {
        const FsStatus status = it->attempt();
        if (!status.ok() && status.error() == EAGAIN) {
            ++it;
            continue;
        }
        answer_locked(*it, status.error());
        it = waiters_.erase(it);
    }
}

void FuseLockWaiters::run()
{
    std::unique_lock lock(mutex_);
    while (!stop_) {
        if (waiters_.empty()) {
            wake_.wait(lock, [this] { return stop_ || !waiters_.empty(); });
            continue;
        }
        wake_.wait_for(lock, kRetryPeriod, [this] { return stop_ || poked_; });
        poked_ = false;
        if (!stop_) {
            retry_locked();
        }
    }
}

} // namespace minivmm::backends
