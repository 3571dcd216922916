#include "fuzz_net_device.hpp"

#include "devices/virtio/net/virtio_net.hpp"
#include "support/socket_pair_backend.hpp"

#include <sys/socket.h>

#include <array>

namespace minivmm::fuzz {

std::unique_ptr<virtio::VirtioDevice> NetFixture::make(memory::GuestMemory& memory)
{
    test::SocketPair pair = test::make_socket_pair();
    host_ = std::move(pair.host);
    const backends::MacAddress mac(backends::MacAddress::Bytes{0x52, 0x54, 0x00, 0x12, 0x34, 0x56});
    auto device = std::make_unique<virtio::VirtioNet>(
        memory, std::make_unique<test::SocketPairBackend>(std::move(pair.device), nullptr, "fuzz0"), mac);
    device_ = device.get();
    return device;
}

bool NetFixture::within_bound() const
{
    return device_ == nullptr || device_->bytes_held() <= virtio::VirtioNet::kMaxBytesHeld;
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
