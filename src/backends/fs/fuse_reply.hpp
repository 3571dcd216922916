// Writing one FUSE reply into the guest's buffers: struct fuse_out_header (length, -errno, the
// request's unique id) and what follows it. A reply that does not fit the buffers the guest gave
// becomes EIO (the header alone); a buffer too small even for the header gets nothing.
#pragma once

#include "backends/fs/fuse_wire.hpp"
#include "memory/iovec_cursor.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

namespace minivmm::backends {

class FuseReply final {
public:
    FuseReply(std::span<const iovec> out, uint64_t unique) : out_(out), unique_(unique) {}

    // Bytes after the header the guest made room for.
    [[nodiscard]] size_t payload_capacity() const
    {
        return out_.capacity() > sizeof(fuse_out_header) ? out_.capacity() - sizeof(fuse_out_header) : 0;
    }
    [[nodiscard]] const memory::IovecWriter& writer() const { return out_; }
    [[nodiscard]] memory::IovecWriter& writer() { return out_; }

    // Each returns the bytes written (the used-ring length).
    [[nodiscard]] uint32_t error(int err) { return header(sizeof(fuse_out_header), -err); }
    [[nodiscard]] uint32_t empty() { return header(sizeof(fuse_out_header), 0); }
    [[nodiscard]] uint32_t bytes(std::span<const std::byte> payload);
    template <typename T>
    [[nodiscard]] uint32_t object(const T& payload)
    {
        static_assert(std::is_trivially_copyable_v<T>);
        return bytes(std::as_bytes(std::span(&payload, 1)));
    }
    // The payload's first `size` bytes of `payload` (a struct the protocol version shortened).
    template <typename T>
    [[nodiscard]] uint32_t object_prefix(const T& payload, size_t size)
    {
        return bytes(std::as_bytes(std::span(&payload, 1)).first(std::min(size, sizeof(T))));
    }
    // `n` payload bytes already written after the header (READ, READDIR).
    [[nodiscard]] uint32_t written(size_t n);

private:
    [[nodiscard]] uint32_t header(size_t len, int32_t error);

    memory::IovecWriter out_;
    uint64_t unique_;
};

} // namespace minivmm::backends
