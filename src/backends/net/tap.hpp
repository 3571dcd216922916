// A host TAP interface as a virtio-net packet back end (Linux Documentation/networking/
// tuntap.rst): /dev/net/tun attached with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, non-blocking,
// a 12-byte virtio-net header on every frame (TUNSETVNETHDRSZ), offloads set with
// TUNSETOFFLOAD. Either an existing (persistent) TAP is attached, or minivmm creates one
// that lives exactly as long as this object: a non-persistent TAP vanishes when its last
// fd closes.
#pragma once

#include "backends/net/packet_backend.hpp"
#include "util/unique_fd.hpp"

#include <string>

namespace minivmm::backends {

class Tap final : public PacketBackend {
public:
    // Attaches to the existing TAP interface `name`. Throws ConfigError naming it when it
    // does not exist, is not a single-queue TAP, is in use, or may not be opened by this
    // user; HostError when the kernel refuses something else.
    [[nodiscard]] static Tap open(const std::string& name);
    // Creates the TAP interface `name` (needs CAP_NET_ADMIN) and brings it up; it is
    // removed when this object is destroyed. ConfigError when the name is taken or the
    // capability is missing.
    [[nodiscard]] static Tap create(const std::string& name);

    Tap(Tap&&) noexcept = default;
    Tap& operator=(Tap&&) noexcept = default;
    ~Tap() override = default;

    [[nodiscard]] std::string name() const override { return name_; }
    [[nodiscard]] int fd() const override { return fd_.get(); }
    [[nodiscard]] IoResult read_frame(std::span<const iovec> iov) override;
    [[nodiscard]] IoResult write_frame(std::span<const iovec> iov) override;
    [[nodiscard]] bool set_offloads(Offloads offloads) override;
    // readv/writev for frames, ioctl (TUNSETOFFLOAD) when the driver's features change.
    void add_syscalls(util::SeccompPolicy& policy) const override
    {
        policy.allow(util::kDeviceThreads, {"readv", "writev", "ioctl"});
    }

    // Whether minivmm created the interface (and so removes it).
    [[nodiscard]] bool created() const { return created_; }

    // The TUNSETOFFLOAD argument for `offloads` (TUN_F_*): TSO only together with CSUM,
    // as the kernel requires.
    [[nodiscard]] static unsigned tun_offload_flags(Offloads offloads);

private:
    Tap(util::UniqueFd fd, std::string name, bool created)
        : fd_(std::move(fd)), name_(std::move(name)), created_(created)
    {
    }

    util::UniqueFd fd_;
    std::string name_;
    bool created_ = false;
};

} // namespace minivmm::backends
