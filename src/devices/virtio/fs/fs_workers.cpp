#include "devices/virtio/fs/fs_workers.hpp"

namespace minivmm::virtio {

namespace {

// The pool whose job this thread is running, if any.
thread_local const FsWorkers* t_running_for = nullptr;

} // namespace

FsWorkers::FsWorkers(unsigned threads, std::function<void()> thread_init, Run run) : run_(std::move(run))
{
    std::mutex started_mutex;
    std::condition_variable started_cv;
    unsigned started = 0;
    std::exception_ptr failure;
    threads_.reserve(threads);
    for (unsigned i = 0; i < threads; ++i) {
        threads_.emplace_back([&, this] {
            std::exception_ptr error;
            try {
                if (thread_init) {
                    thread_init();
                }
            } catch (...) {
                error = std::current_exception();
            }
            {
                // Notified with the lock held: once the constructor sees the count it returns,
                // and started_cv (on its stack) is gone. Notifying after the unlock raced with
                // that: a worker could be left inside pthread_cond_signal on freed stack memory,
                // blocked for ever, and the VM's exit then hung joining it (seen in [linux]).
                std::lock_guard lock(started_mutex);
                ++started;
                if (error && !failure) {
                    failure = error;
                }
                started_cv.notify_one();
            }
            if (!error) {
                work();
            }
        });
    }
    std::unique_lock lock(started_mutex);
    started_cv.wait(lock, [&] { return started == threads; });
    if (failure) {
        lock.unlock();
        stop_threads();
        std::rethrow_exception(failure);
    }
}

FsWorkers::~FsWorkers() { stop_threads(); }

void FsWorkers::stop_threads()
{
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
        jobs_.clear();
    }
    wake_.notify_all();
    for (auto& t : threads_) {
        if (t.joinable()) {
            t.join();
        }
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
    const unsigned self = t_running_for == this ? 1 : 0;
    idle_.wait(lock, [this, self] { return running_ == self; });
    return dropped;
}

void FsWorkers::work()
{
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
        t_running_for = this;
        run_(slot);
        t_running_for = nullptr;
        lock.lock();
        --running_;
        idle_.notify_all(); // cancel() on a worker waits for the count to fall to 1, not 0
    }
}

} // namespace minivmm::virtio
