// The threads that serve a virtio-fs device's requests, off the vCPU and I/O threads, several at
// once: the I/O thread pops chains and submits their slot numbers; a worker runs one to the end
// (a file-system call may block for as long as the host's disk takes) and hands the result back
// through the device's completion path. cancel() is the device reset's: jobs not started are
// dropped and, when it returns, no worker is running one, other than the caller when a worker
// calls it (a worker that finds the device free completes its request itself, and a queue
// error seen there resets the device on that worker: it must not wait for itself).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace minivmm::virtio {

class FsWorkers final {
public:
    using Run = std::function<void(size_t slot)>;

    // `thread_init` runs once on each thread, first thing (its seccomp filter), and the
    // constructor returns when it has run on every thread; if it throws on one, the threads
    // are stopped and the constructor throws that.
    FsWorkers(unsigned threads, std::function<void()> thread_init, Run run);
    ~FsWorkers();
    FsWorkers(const FsWorkers&) = delete;
    FsWorkers& operator=(const FsWorkers&) = delete;

    void submit(size_t slot);
    // Drops the jobs not started yet (returned) and waits until no job runs (on a worker of
    // this pool: no job but the caller's).
    [[nodiscard]] std::vector<size_t> cancel();
    [[nodiscard]] unsigned threads() const { return static_cast<unsigned>(threads_.size()); }

private:
    void work();
    void stop_threads();

    Run run_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable idle_;
    std::deque<size_t> jobs_;
    unsigned running_ = 0;
    bool stop_ = false;
    std::vector<std::thread> threads_; // started last
};

} // namespace minivmm::virtio
