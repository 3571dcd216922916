// Bounds-checked reads of plain-data structures out of an untrusted image in host memory.
// Host and image are both little-endian x86-64, so a memcpy is the decode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <type_traits>

namespace minivmm::loader {

// The T at `offset`, or nullopt if [offset, offset + sizeof(T)) is not inside `image`.
template <typename T>
[[nodiscard]] std::optional<T> read_struct(std::span<const std::byte> image, uint64_t offset)
{
    static_assert(std::is_trivially_copyable_v<T>);
    if (offset > image.size() || sizeof(T) > image.size() - offset) {
        return std::nullopt;
    }
    T value;
    std::memcpy(&value, image.data() + offset, sizeof(T));
    return value;
}

// The sub-span [offset, offset + len), or nullopt if it is not inside `image`.
[[nodiscard]] inline std::optional<std::span<const std::byte>> checked_subspan(std::span<const std::byte> image,
                                                                               uint64_t offset, uint64_t len)
{
    if (offset > image.size() || len > image.size() - offset) {
        return std::nullopt;
    }
    return image.subspan(offset, len);
}

} // namespace minivmm::loader
