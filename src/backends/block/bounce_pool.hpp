// Aligned host buffers for O_DIRECT requests whose guest buffers are not 512-aligned.
// A fixed number of buffers, each grown on first need and then reused, so the aligned
// common case allocates nothing and a guest cannot make the VMM allocate without bound.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace minivmm::backends {

class BouncePool final {
public:
    static constexpr std::size_t kAlignment = 4096;

    // `count` buffers of at most `max_bytes` each.
    BouncePool(std::size_t count, std::size_t max_bytes);

    [[nodiscard]] std::size_t max_bytes() const { return max_bytes_; }
    // A free buffer of at least `size` (<= max_bytes()) bytes: its index, or nullopt when
    // all are in use or growing one failed (in_use() == count() tells which).
    [[nodiscard]] std::optional<std::size_t> acquire(std::size_t size);
    // The first `size` bytes of buffer `index`, as acquired.
    [[nodiscard]] std::span<std::byte> buffer(std::size_t index, std::size_t size);
    void release(std::size_t index);
    [[nodiscard]] std::size_t in_use() const;
    [[nodiscard]] std::size_t count() const { return buffers_.size(); }
    // Host bytes the pool holds now: at most count() x (max_bytes() + sizeof(Buffer)).
    [[nodiscard]] std::size_t bytes_held() const;
    static constexpr std::size_t kBufferOverhead = 32; // sizeof(Buffer), for callers' bounds

private:
    struct Free {
        void operator()(std::byte* p) const { std::free(p); }
    };
    struct Buffer {
        std::unique_ptr<std::byte[], Free> data;
        std::size_t size = 0;
        bool busy = false;
    };

    std::vector<Buffer> buffers_;
    std::size_t max_bytes_;
};

} // namespace minivmm::backends
