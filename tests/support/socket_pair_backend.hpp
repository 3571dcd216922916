// A TAP stand-in for virtio-net tests and fuzz targets: one end of an AF_UNIX SOCK_SEQPACKET
// pair, which keeps frame boundaries and, like a TAP, cuts a frame to the buffers it is read
// into. The test (or the fuzzer) holds the other end, "the host".
#pragma once

#include "backends/net/packet_backend.hpp"
#include "util/unique_fd.hpp"

#include <memory>
#include <string>
#include <vector>

namespace minivmm::test {

struct SocketPair {
    util::UniqueFd device;
    util::UniqueFd host;
};

// A non-blocking, close-on-exec SOCK_SEQPACKET pair; SupportError if it cannot be made.
[[nodiscard]] SocketPair make_socket_pair();

class SocketPairBackend final : public backends::PacketBackend {
public:
    // `offloads`, when given, records every set_offloads() the device asks for.
    explicit SocketPairBackend(util::UniqueFd fd,
                               std::shared_ptr<std::vector<backends::Offloads>> offloads = nullptr,
                               std::string name = "pair0");

    std::string name() const override { return name_; }
    int fd() const override { return fd_.get(); }
    backends::IoResult read_frame(std::span<const iovec> iov) override;
    backends::IoResult write_frame(std::span<const iovec> iov) override;
    bool set_offloads(backends::Offloads offloads) override;

private:
    util::UniqueFd fd_;
    std::shared_ptr<std::vector<backends::Offloads>> offloads_;
    std::string name_;
};

} // namespace minivmm::test
