// A heap buffer aligned for O_DIRECT I/O (4 KiB), move-only.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <span>

namespace minivmm::backends {

class AlignedBuffer final {
public:
    static constexpr std::size_t kAlignment = 4096;

    AlignedBuffer() = default;
    // `size` bytes, zero-filled. Throws std::bad_alloc.
    explicit AlignedBuffer(std::size_t size) : size_(size)
    {
        const std::size_t rounded = (size + kAlignment - 1) / kAlignment * kAlignment;
        // aligned_alloc returns storage for `rounded` bytes; the std::byte array lives there.
        data_.reset(static_cast<std::byte*>(std::aligned_alloc(kAlignment, rounded == 0 ? kAlignment : rounded)));
        if (!data_) {
            throw std::bad_alloc();
        }
        std::memset(data_.get(), 0, size);
    }

    [[nodiscard]] std::byte* data() { return data_.get(); }
    [[nodiscard]] const std::byte* data() const { return data_.get(); }
    [[nodiscard]] std::size_t size() const { return size_; }
    [[nodiscard]] std::span<std::byte> span() { return {data_.get(), size_}; }
    [[nodiscard]] std::span<const std::byte> span() const { return {data_.get(), size_}; }
    [[nodiscard]] bool empty() const { return size_ == 0; }

private:
    struct Free {
        void operator()(std::byte* p) const { std::free(p); }
    };
    std::unique_ptr<std::byte[], Free> data_;
    std::size_t size_ = 0;
};

} // namespace minivmm::backends
