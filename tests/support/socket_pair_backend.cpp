#include "support/socket_pair_backend.hpp"

#include "support/support_check.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace minivmm::test {
namespace {

backends::IoResult result(ssize_t n)
{
    return n < 0 ? backends::IoResult{0, errno} : backends::IoResult{static_cast<size_t>(n), 0};
}

msghdr message(std::span<const iovec> iov)
{
    msghdr msg{};
    msg.msg_iov = const_cast<iovec*>(iov.data()); // sendmsg/recvmsg take a non-const iovec
    msg.msg_iovlen = iov.size();
    return msg;
}

} // namespace

SocketPair make_socket_pair()
{
    int fds[2];
    support_check(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0,
                  "socketpair(AF_UNIX, SOCK_SEQPACKET) failed");
    return {util::UniqueFd(fds[0]), util::UniqueFd(fds[1])};
}

SocketPairBackend::SocketPairBackend(util::UniqueFd fd, std::shared_ptr<std::vector<backends::Offloads>> offloads,
                                     std::string name)
    : fd_(std::move(fd)), offloads_(std::move(offloads)), name_(std::move(name))
{
}

backends::IoResult SocketPairBackend::read_frame(std::span<const iovec> iov)
{
    msghdr msg = message(iov);
    return result(::recvmsg(fd_.get(), &msg, MSG_DONTWAIT));
}

backends::IoResult SocketPairBackend::write_frame(std::span<const iovec> iov)
{
    const msghdr msg = message(iov);
    return result(::sendmsg(fd_.get(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL));
}

bool SocketPairBackend::set_offloads(backends::Offloads offloads)
{
    if (offloads_) {
        offloads_->push_back(offloads);
    }
    return true;
}

} // namespace minivmm::test
