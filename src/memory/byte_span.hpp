// Byte-span views between std::byte (guest memory) and uint8_t (device and console
// interfaces, zlib's Bytef), as characters (names stored in images), and of plain-data objects. The one place such reinterpretation happens:
// both are byte types, so any object may be viewed through them ([basic.lval]/11).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>

namespace minivmm::memory {

[[nodiscard]] inline std::span<const uint8_t> as_u8(std::span<const std::byte> bytes)
{
    return {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()};
}

[[nodiscard]] inline std::span<uint8_t> as_writable_u8(std::span<std::byte> bytes)
{
    return {reinterpret_cast<uint8_t*>(bytes.data()), bytes.size()};
}

// The bytes as characters (a name or string stored in an image), not NUL-terminated.
[[nodiscard]] inline std::string_view as_chars(std::span<const std::byte> bytes)
{
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

template <typename T>
[[nodiscard]] std::span<const uint8_t> object_u8(const T& object)
{
    static_assert(std::is_trivially_copyable_v<T>);
    return as_u8(std::as_bytes(std::span(&object, 1)));
}

} // namespace minivmm::memory
