// The arguments of one FUSE request after its header, copied out of guest memory once (the
// guest may change its buffers meanwhile) and read front to back: fixed structs, then
// NUL-terminated names, then raw bytes. Every read is checked against what arrived.
#pragma once

#include "backends/fs/fs_name.hpp"
#include "backends/fs/fs_result.hpp"

#include <cstddef>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>

namespace minivmm::backends {

class FuseBody final {
public:
    explicit FuseBody(std::span<const std::byte> bytes) : bytes_(bytes) {}

    [[nodiscard]] size_t remaining() const { return bytes_.size(); }

    template <typename T>
    [[nodiscard]] std::optional<T> take()
    {
        static_assert(std::is_trivially_copyable_v<T>);
        return take_prefix<T>(sizeof(T));
    }
    // A struct of which older protocol versions send only the first `size` bytes (the rest 0).
    template <typename T>
    [[nodiscard]] std::optional<T> take_prefix(size_t size)
    {
        static_assert(std::is_trivially_copyable_v<T>);
        T value{};
        if (size > sizeof(T) || bytes_.size() < size) {
            return std::nullopt;
        }
        std::memcpy(&value, bytes_.data(), size);
        bytes_ = bytes_.subspan(size);
        return value;
    }
    // The next NUL-terminated name, checked (fs_name.hpp).
    [[nodiscard]] FsResult<FsName> name()
    {
        auto parsed = FsName::parse(bytes_);
        if (parsed.ok()) {
            bytes_ = bytes_.subspan(parsed->wire_size());
        }
        return parsed;
    }
    // The next NUL-terminated string of at most `max` bytes (a symlink target, an xattr
    // name), without its NUL; nullopt if there is no NUL within max + 1 bytes.
    [[nodiscard]] std::optional<std::string_view> string(size_t max)
    {
        const auto window = bytes_.first(std::min(bytes_.size(), max + 1));
        const auto* chars = static_cast<const char*>(static_cast<const void*>(window.data()));
        const size_t len = ::strnlen(chars, window.size());
        if (len == window.size()) {
            return std::nullopt;
        }
        bytes_ = bytes_.subspan(len + 1);
        return std::string_view(chars, len);
    }
    // The next `n` bytes.
    [[nodiscard]] std::optional<std::span<const std::byte>> bytes(size_t n)
    {
        if (n > bytes_.size()) {
            return std::nullopt;
        }
        const auto out = bytes_.first(n);
        bytes_ = bytes_.subspan(n);
        return out;
    }

private:
    std::span<const std::byte> bytes_;
};

} // namespace minivmm::backends
