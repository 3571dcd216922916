// virtio-fs's worker pool (devices/virtio/fs/fs_workers.hpp): jobs run off the caller's thread,
// cancel() drops what has not started and waits for what runs, and a cancel() made by a job
// (a worker that completed its request itself and found a queue error: the device resets on
// that worker) waits for the other jobs, not for itself.
#include "devices/virtio/fs/fs_workers.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <set>

using namespace minivmm;
using namespace std::chrono_literals;

namespace {

// A latch a job can wait on, with a time limit so that a broken pool fails the test instead
// of hanging it.
class Gate {
public:
    void open()
    {
        {
            const std::lock_guard lock(mutex_);
            open_ = true;
        }
        cv_.notify_all();
    }
    bool wait(std::chrono::milliseconds limit = 10s)
    {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, limit, [this] { return open_; });
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool open_ = false;
};

} // namespace

TEST_CASE("fs workers: jobs run on the pool's threads; cancel() drops the queued ones and waits for the running one",
          "[unit][virtio-fs]")
{
    Gate first_started;
    Gate release_first;
    std::mutex mutex;
    std::set<size_t> ran;
    virtio::FsWorkers workers(1, nullptr, [&](size_t slot) {
        if (slot == 0) {
            first_started.open();
            release_first.wait(); // (no Catch2 assertions off the test's thread)
        }
        const std::lock_guard lock(mutex);
        ran.insert(slot);
    });
    CHECK(workers.threads() == 1);
    workers.submit(0);
    REQUIRE(first_started.wait());
    workers.submit(1);
    workers.submit(2);
    auto cancelled = std::async(std::launch::async, [&] { return workers.cancel(); });
    CHECK(cancelled.wait_for(50ms) == std::future_status::timeout); // job 0 still runs
    release_first.open();
    REQUIRE(cancelled.wait_for(10s) == std::future_status::ready);
    CHECK(cancelled.get() == std::vector<size_t>{1, 2});
    const std::lock_guard lock(mutex);
    CHECK(ran == std::set<size_t>{0});
}

TEST_CASE("fs workers: a job's own cancel() waits for the other running jobs, not for itself", "[unit][virtio-fs]")
{
    // Without this a worker that resets the device deadlocked (found by fuzz_fs): it waited
    // for the pool to go idle while it was itself the job keeping it busy.
    Gate other_started;
    Gate release_other;
    Gate other_done;
    std::promise<std::vector<size_t>> cancel_result;
    auto cancel_returned = cancel_result.get_future();
    Gate later;
    // Leaked if the test fails: a pool stuck in cancel() cannot be joined.
    virtio::FsWorkers* workers = nullptr;
    workers = new virtio::FsWorkers(2, nullptr, [&](size_t slot) {
        if (slot == 0) {
            other_started.open();
            release_other.wait();
            other_done.open();
        } else if (slot == 1) {
            cancel_result.set_value(workers->cancel());
        } else {
            later.open();
        }
    });
    workers->submit(0);
    REQUIRE(other_started.wait());
    workers->submit(1);
    // The canceller waits for job 0 ...
    CHECK(cancel_returned.wait_for(50ms) == std::future_status::timeout);
    release_other.open();
    // ... and returns once it is done, without waiting for itself.
    REQUIRE(cancel_returned.wait_for(10s) == std::future_status::ready);
    CHECK(other_done.wait(0ms));
    CHECK(cancel_returned.get().empty());
    // The pool still runs jobs afterwards.
    workers->submit(7);
    CHECK(later.wait());
    delete workers;
}
