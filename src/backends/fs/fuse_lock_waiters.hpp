// SETLKW requests (and blocking flock()) waiting for a lock held elsewhere. A worker thread
// must never sleep on a lock: the holder's unlock could be the request behind it. So a request
// that would block is parked here, holding on to its reply buffers, and one thread of the
// server tries the lock again, without blocking, whenever the guest gives up a lock and every
// few milliseconds (a host process may hold it). When it gets it, or the guest interrupts the
// request (FUSE_INTERRUPT: EINTR), the reply goes out through the server's deferred-reply path.
// reset() drops every parked request without an answer (the device is being reset).
#pragma once

#include "backends/fs/fs_result.hpp"
#include "backends/fs/fuse_wire.hpp"

#include <sys/uio.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <thread>
#include <vector>

namespace minivmm::backends {

class FuseLockWaiters final {
public:
    // One parked request: how to try again, and where its reply goes.
    struct Waiter {
        uint64_t token = 0;  // the device's request id
        uint64_t unique = 0; // the FUSE request id (INTERRUPT names it)
        std::function<FsStatus()> attempt;
        std::vector<iovec> out;
    };
    // Called with the request's token and the bytes of its reply.
    using Complete = std::function<void(uint64_t token, uint32_t written)>;

    explicit FuseLockWaiters(Complete complete);
    ~FuseLockWaiters();
    FuseLockWaiters(const FuseLockWaiters&) = delete;
    FuseLockWaiters& operator=(const FuseLockWaiters&) = delete;

    void park(Waiter waiter);
    // Try the parked requests again now (a lock was given up).
    void poke();
    // INTERRUPT of `unique`: its reply is EINTR. False if no such request is parked.
    bool interrupt(uint64_t unique);
    // Drops every parked request, unanswered; when this returns none of their buffers is touched.
    void reset();
    [[nodiscard]] size_t parked() const;

private:
    void run();
    void retry_locked();
    void answer_locked(Waiter& waiter, int error);

    static constexpr auto kRetryPeriod = std::chrono::milliseconds(10);

    Complete complete_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::list<Waiter> waiters_;
    bool poked_ = false;
    bool stop_ = false;
    std::thread thread_; // started last
};

} // namespace minivmm::backends
