#include "fuzz_net_device.hpp"

#include "devices/virtio/net/virtio_net.hpp"

#include <sys/socket.h>

#include <array>
#include <cerrno>

namespace minivmm::fuzz {
namespace {

class SocketPairBackend final : public backends::PacketBackend {
public:
    explicit SocketPairBackend(util::UniqueFd fd) : fd_(std::move(fd)) {}
    std::string name() const override { return "fuzz0"; }
    int fd() const override { return fd_.get(); }
    backends::IoResult read_frame(std::span<const iovec> iov) override { return transfer(iov, false); }
    backends::IoResult write_frame(std::span<const iovec> iov) override { return transfer(iov, true); }
    bool set_offloads(backends::Offloads) override { return true; }

private:
    backends::IoResult transfer(std::span<const iovec> iov, bool send)
    {
        msghdr msg{};
        msg.msg_iov = const_cast<iovec*>(iov.data());
        msg.msg_iovlen = iov.size();
        const ssize_t n =
            send ? ::sendmsg(fd_.get(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL) : ::recvmsg(fd_.get(), &msg, MSG_DONTWAIT);
        return n < 0 ? backends::IoResult{0, errno} : backends::IoResult{static_cast<size_t>(n), 0};
    }

    util::UniqueFd fd_;
};

} // namespace

std::unique_ptr<virtio::VirtioDevice> NetFixture::make(memory::GuestMemory& memory)
{
    std::array<int, 2> fds{};
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds.data()) != 0) {
        return nullptr;
    }
    host_ = util::UniqueFd(fds[1]);
    const backends::MacAddress mac(backends::MacAddress::Bytes{0x52, 0x54, 0x00, 0x12, 0x34, 0x56});
    return std::make_unique<virtio::VirtioNet>(memory, std::make_unique<SocketPairBackend>(util::UniqueFd(fds[0])),
                                               mac);
}

void NetFixture::host(std::span<const uint8_t> frame)
{
    if (!frame.empty()) {
        [[maybe_unused]] const ssize_t n = ::send(host_.get(), frame.data(), frame.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        return;
    }
    std::array<uint8_t, 2048> sink{};
    while (::recv(host_.get(), sink.data(), sink.size(), MSG_DONTWAIT) > 0) {
    }
}

} // namespace minivmm::fuzz
