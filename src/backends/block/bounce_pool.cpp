// Bounce buffers for unaligned O_DIRECT requests.
#include "backends/block/bounce_pool.hpp"

#include <algorithm>

namespace minivmm::backends {

namespace {

constexpr std::size_t kGrowStep = 64 * 1024;

} // namespace

BouncePool::BouncePool(std::size_t count, std::size_t max_bytes) : buffers_(count), max_bytes_(max_bytes) {}

std::optional<std::size_t> BouncePool::acquire(std::size_t size)
{
    if (size > max_bytes_) {
        return std::nullopt;
    }
    // Prefer a free buffer that is already large enough; else grow the largest free one.
    std::optional<std::size_t> pick;
    for (std::size_t i = 0; i < buffers_.size(); ++i) {
        const Buffer& b = buffers_[i];
        if (b.busy) {
            continue;
        }
        if (b.size >= size) {
            pick = i;
            break;
        }
        if (!pick || b.size > buffers_[*pick].size) {
            pick = i;
        }
    }
    if (!pick) {
        return std::nullopt;
    }
    Buffer& b = buffers_[*pick];
    if (b.size < size) {
        const std::size_t grown = std::min(max_bytes_, (size + kGrowStep - 1) / kGrowStep * kGrowStep);
        const std::size_t bytes = (std::max(grown, size) + kAlignment - 1) / kAlignment * kAlignment;
        // aligned_alloc returns storage for bytes; the array of std::byte begins its lifetime there.
        auto* p = static_cast<std::byte*>(std::aligned_alloc(kAlignment, bytes));
        if (p == nullptr) {
            return std::nullopt;
        }
        b.data.reset(p);
        b.size = bytes;
    }
    b.busy = true;
    return pick;
}

std::span<std::byte> BouncePool::buffer(std::size_t index, std::size_t size)
{
    return std::span(buffers_[index].data.get(), std::min(size, buffers_[index].size));
}

std::size_t BouncePool::bytes_held() const
{
    static_assert(sizeof(Buffer) <= kBufferOverhead);
    std::size_t bytes = buffers_.capacity() * sizeof(Buffer);
    for (const Buffer& b : buffers_) {
        bytes += b.size;
    }
    return bytes;
}

void BouncePool::release(std::size_t index) { buffers_[index].busy = false; }

std::size_t BouncePool::in_use() const
{
    return static_cast<std::size_t>(std::count_if(buffers_.begin(), buffers_.end(), [](const Buffer& b) { return b.busy; }));
}

} // namespace minivmm::backends
