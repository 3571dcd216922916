#include "backends/fs/fuse_reply.hpp"

#include <cerrno>

namespace minivmm::backends {

uint32_t FuseReply::header(size_t len, int32_t error)
{
    const fuse_out_header h{static_cast<uint32_t>(len), error, unique_};
    if (!out_.write_obj_at(0, h)) {
        return 0;
    }
    return static_cast<uint32_t>(len);
}

uint32_t FuseReply::bytes(std::span<const std::byte> payload)
{
    if (payload.size() > payload_capacity() || !out_.write_at(sizeof(fuse_out_header), payload)) {
        return error(EIO);
    }
    return header(sizeof(fuse_out_header) + payload.size(), 0);
}

uint32_t FuseReply::written(size_t n)
{
    if (n > payload_capacity()) {
        return error(EIO);
    }
    return header(sizeof(fuse_out_header) + n, 0);
}

} // namespace minivmm::backends
