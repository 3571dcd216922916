#include "backends/stream/socket_stream.hpp"

#include "util/sys_error.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <algorithm>
#include <climits>

namespace minivmm::backends {
namespace {

int iov_count(std::span<const iovec> iov) { return static_cast<int>(std::min<size_t>(iov.size(), IOV_MAX)); }

} // namespace

SocketStream::SocketStream(util::UniqueFd socket) : socket_(std::move(socket))
{
    const int flags = ::fcntl(socket_.get(), F_GETFL);
    if (flags < 0 || ::fcntl(socket_.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
        util::throw_sys_error("fcntl O_NONBLOCK (port socket)");
    }
}

ssize_t SocketStream::read(std::span<const iovec> iov)
{
    for (;;) {
        const ssize_t n = ::readv(socket_.get(), iov.data(), iov_count(iov));
        if (n >= 0) {
            return n;
        }
        if (errno != EINTR) {
            return -errno;
        }
    }
}

ssize_t SocketStream::write(std::span<const iovec> iov)
{
    msghdr message{};
    // sendmsg (for MSG_NOSIGNAL, which writev lacks) takes a non-const iovec array; it only
    // reads it.
    message.msg_iov = const_cast<iovec*>(iov.data());
    message.msg_iovlen = static_cast<size_t>(iov_count(iov));
    for (;;) {
        const ssize_t n = ::sendmsg(socket_.get(), &message, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0) {
            return n;
        }
        if (errno != EINTR) {
            return -errno;
        }
    }
}

} // namespace minivmm::backends
