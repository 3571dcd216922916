// FuseServer::Context: what the handlers of one request share (fuse_server*.cpp only).
#pragma once

#include "backends/fs/fuse_body.hpp"
#include "backends/fs/fuse_reply.hpp"
#include "backends/fs/fuse_server.hpp"
#include "memory/iovec_cursor.hpp"

namespace minivmm::backends {

struct FuseServer::Context {
    fuse_in_header header;
    FuseBody body;                // the arguments, copied out of guest memory
    memory::IovecReader& reader;  // positioned after what `body` holds (WRITE's data)
    FuseReply reply;
    const FuseRequest& request;
    uint64_t token;

    [[nodiscard]] FsCaller caller() const { return FsCaller{header.uid, header.gid, header.pid}; }
    [[nodiscard]] uint64_t nodeid() const { return header.nodeid; }
};

} // namespace minivmm::backends
