// Bounds-checked copies out of and into a list of iovecs: guest buffers that a device handed to
// a back end as host views (descriptor chains mapped with memory::to_iovec). A back end reads a
// request header from them and writes a reply into them through these, never through a pointer
// of its own, and gets the iovecs of a sub-range to hand to preadv/pwritev. Every length is
// checked against what the list holds; a copy is all or nothing.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

namespace minivmm::memory {

// Reads an iovec list front to back, at most `limit` bytes of it.
class IovecReader final {
public:
    explicit IovecReader(std::span<const iovec> iov, size_t limit = SIZE_MAX);

    // Bytes left to read.
    [[nodiscard]] size_t remaining() const { return remaining_; }
    // Fills `out` from the current position and advances; false (nothing consumed) if fewer remain.
    [[nodiscard]] bool read(std::span<std::byte> out);
    template <typename T>
    [[nodiscard]] std::optional<T> read_obj()
    {
        static_assert(std::is_trivially_copyable_v<T>);
        T value;
        if (!read(std::as_writable_bytes(std::span(&value, 1)))) {
            return std::nullopt;
        }
        return value;
    }
    // Advances by `n` bytes; false (nothing consumed) if fewer remain.
    [[nodiscard]] bool skip(size_t n);
    // Appends the iovecs of the next `n` bytes to `out` and advances; false (nothing appended
    // or consumed) if fewer remain.
    [[nodiscard]] bool take(size_t n, std::vector<iovec>& out);

private:
    std::span<const iovec> iov_;
    size_t index_ = 0;  // current iovec
    size_t offset_ = 0; // within it
    size_t remaining_ = 0;
};

// Writes into an iovec list at byte offsets.
class IovecWriter final {
public:
    explicit IovecWriter(std::span<const iovec> iov);

    [[nodiscard]] size_t capacity() const { return capacity_; }
    // Copies `in` to [offset, offset + in.size()); false (nothing written) if that is past the end.
    [[nodiscard]] bool write_at(size_t offset, std::span<const std::byte> in);
    template <typename T>
    [[nodiscard]] bool write_obj_at(size_t offset, const T& value)
    {
        static_assert(std::is_trivially_copyable_v<T>);
        return write_at(offset, std::as_bytes(std::span(&value, 1)));
    }
    // Appends the iovecs of [offset, offset + n) to `out`; false (nothing appended) if past the end.
    [[nodiscard]] bool slice(size_t offset, size_t n, std::vector<iovec>& out) const;

private:
    std::span<const iovec> iov_;
    size_t capacity_ = 0;
};

} // namespace minivmm::memory
