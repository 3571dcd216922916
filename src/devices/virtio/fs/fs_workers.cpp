#include "devices/virtio/fs/fs_workers.hpp"

namespace minivmm::virtio {

FsWorkers::FsWorkers(unsigned threads, std::function<void()> thread_init, Run run) : run_(std::move(run))
{
    threads_.reserve(threads);
    for (unsigned i = 0; i < threads; ++i) {
        threads_.emplace_back([this, thread_init] { work(thread_init); });
    }
}

FsWorkers::~FsWorkers()
{
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
        jobs_.clear();
    }
    wake_.notify_all();
    for (auto& t : threads_) {
        t.join();
    }
}

void FsWorkers::submit(size_t slot)
{
    {
        std::lock_guard lock(mutex_);
        jobs_.push_back(slot);
    }
    wake_.notify_one();
}

std::vector<size_t> FsWorkers::cancel()
{
    std::unique_lock lock(mutex_);
    std::vector<size_t> dropped(jobs_.begin(), jobs_.end());
    jobs_.clear();
    idle_.wait(lock, [this] { return running_ == 0; });
    return dropped;
}

void FsWorkers::work(const std::function<void()>& thread_init)
{
    if (thread_init) {
        thread_init();
    }
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
        if (stop_) {
            return;
        }
        const size_t slot = jobs_.front();
        jobs_.pop_front();
        ++running_;
        lock.unlock();
        run_(slot);
        lock.lock();
        if (--running_ == 0) {
            idle_.notify_all();
        }
    }
}

} // namespace minivmm::virtio
