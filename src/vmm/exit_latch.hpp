// The one place a run's end is decided: the first ExitStatus reported wins, later ones are
// ignored, and whoever waits is woken.
#pragma once

#include <minivmm/exit_status.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

namespace minivmm::vmm {

class ExitLatch final {
public:
    // Returns true if this call decided the outcome.
    bool set(ExitStatus status)
    {
        {
            std::lock_guard lock(mutex_);
            if (status_) {
                return false;
            }
            status_ = std::move(status);
        }
        cv_.notify_all();
        return true;
    }
    [[nodiscard]] std::optional<ExitStatus> get() const
    {
        std::lock_guard lock(mutex_);
        return status_;
    }
    ExitStatus wait() const
    {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [this] { return status_.has_value(); });
        return *status_;
    }
    // nullopt if nothing was set before `deadline`.
    [[nodiscard]] std::optional<ExitStatus> wait_until(std::chrono::steady_clock::time_point deadline) const
    {
        std::unique_lock lock(mutex_);
        cv_.wait_until(lock, deadline, [this] { return status_.has_value(); });
        return status_;
    }

private:
    mutable std::mutex mutex_;
    mutable std::condition_variable cv_;
    std::optional<ExitStatus> status_;
};

} // namespace minivmm::vmm
