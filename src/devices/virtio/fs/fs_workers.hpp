// The threads that serve a virtio-fs device's requests, off the vCPU and I/O threads, several at
// once: the I/O thread pops chains and submits their slot numbers; a worker runs one to the end
// (a file-system call may block for as long as the host's disk takes) and hands the result back
// through the device's completion path. cancel() is the device reset's: jobs not started are
// dropped and, when it returns, no worker is running one.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace minivmm::virtio {

class FsWorkers final {
public:
    using Run = std::function<void(size_t slot)>;

    // `thread_init` runs once on each thread before any job.
    FsWorkers(unsigned threads, std::function<void()> thread_init, Run run);
    ~FsWorkers();
    FsWorkers(const FsWorkers&) = delete;
    FsWorkers& operator=(const FsWorkers&) = delete;

    void submit(size_t slot);
    // Drops the jobs not started yet (returned) and waits until no job runs.
    [[nodiscard]] std::vector<size_t> cancel();
    [[nodiscard]] unsigned threads() const { return static_cast<unsigned>(threads_.size()); }

private:
    void work(const std::function<void()>& thread_init);

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
