// A ByteStream on a stream socket (one end of a socket pair: `minivmm exec` holds the other).
// Writes never raise SIGPIPE (MSG_NOSIGNAL): a closed peer is -EPIPE.
#pragma once

#include "backends/stream/byte_stream.hpp"
#include "util/unique_fd.hpp"

namespace minivmm::backends {

class SocketStream final : public ByteStream {
public:
    // Takes the socket and makes it non-blocking (HostError if it cannot).
    explicit SocketStream(util::UniqueFd socket);

    [[nodiscard]] int fd() const override { return socket_.get(); }
    [[nodiscard]] ssize_t read(std::span<const iovec> iov) override;
    [[nodiscard]] ssize_t write(std::span<const iovec> iov) override;
    // readv; sendmsg (for MSG_NOSIGNAL).
    void add_syscalls(util::SeccompPolicy& policy) const override
    {
        policy.allow(util::kDeviceThreads, {"readv", "sendmsg"});
    }

private:
    util::UniqueFd socket_;
};

} // namespace minivmm::backends
