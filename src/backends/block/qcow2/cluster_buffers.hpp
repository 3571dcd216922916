// A fixed number of aligned buffers of two clusters (plus alignment slack) each, for
// copy-on-write and for compressed clusters: a request takes all the buffers it needs at
// once, or waits without holding any, so requests cannot deadlock on them; and a guest
// cannot make the VMM allocate more than count x bytes however many requests it sends.
#pragma once

#include "backends/block/aligned_buffer.hpp"
#include "backends/block/async_task.hpp"

#include <cstddef>
#include <span>
#include <utility>
#include <vector>

namespace minivmm::backends::qcow2 {

class ClusterBuffers final {
public:
    ClusterBuffers(std::size_t count, std::size_t bytes, Scheduler& scheduler)
        : buffers_(count), bytes_(bytes), scheduler_(scheduler)
    {
        for (std::size_t i = count; i > 0; --i) {
            free_.push_back(i - 1);
        }
    }

    class Lease final {
    public:
        Lease() = default;
        Lease(ClusterBuffers* owner, std::vector<std::size_t> indexes) : owner_(owner), indexes_(std::move(indexes)) {}
        Lease(Lease&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)), indexes_(std::move(other.indexes_)) {}
        Lease& operator=(Lease&&) = delete;
        Lease(const Lease&) = delete;
        ~Lease()
        {
            if (owner_ != nullptr) {
                owner_->give_back(indexes_);
            }
        }
        [[nodiscard]] std::span<std::byte> operator[](std::size_t i) const { return owner_->buffers_[indexes_[i]].span(); }

    private:
        ClusterBuffers* owner_ = nullptr;
        std::vector<std::size_t> indexes_;
    };

    // `n` buffers (at most the count), waiting until that many are free at once.
    [[nodiscard]] Task<Lease> acquire(std::size_t n)
    {
        while (free_.size() < n) {
            co_await released_.wait();
        }
        std::vector<std::size_t> taken(free_.end() - static_cast<std::ptrdiff_t>(n), free_.end());
        free_.resize(free_.size() - n);
        for (const std::size_t i : taken) {
            if (buffers_[i].empty()) {
                buffers_[i] = AlignedBuffer(bytes_); // grown on first use, then kept
            }
        }
        co_return Lease(this, std::move(taken));
    }
    [[nodiscard]] std::size_t count() const { return buffers_.size(); }
    [[nodiscard]] std::size_t bytes() const { return bytes_; }

private:
    void give_back(const std::vector<std::size_t>& indexes)
    {
        free_.insert(free_.end(), indexes.begin(), indexes.end());
        released_.wake_all(scheduler_);
    }

    std::vector<AlignedBuffer> buffers_;
    std::vector<std::size_t> free_;
    std::size_t bytes_;
    Scheduler& scheduler_;
    WaitList released_;
};

} // namespace minivmm::backends::qcow2
