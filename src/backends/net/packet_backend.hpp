// Where a virtio-net device's frames come from and go to on the host: a TAP device in
// minivmm, a socket pair in the tests. Frames cross with a 12-byte virtio-net header in
// front (struct virtio_net_hdr_v1, as TUNSETVNETHDRSZ 12 gives it), one frame per call,
// scattered over caller-provided buffers. The back end knows nothing of virtqueues.
#pragma once

#include "util/seccomp_filter.hpp"

#include <sys/uio.h>

#include <cstddef>
#include <span>
#include <string>

namespace minivmm::backends {

inline constexpr size_t kVnetHeaderSize = 12;

// What the back end may hand over unfinished (TUNSETOFFLOAD): frames with a partial
// checksum, and TCP segments larger than the MTU.
struct Offloads {
    bool csum = false;
    bool tso4 = false;
    bool tso6 = false;

    constexpr bool operator==(const Offloads&) const = default;
};

// Bytes moved, or the errno of the failure (EAGAIN: retry once fd() polls ready).
struct IoResult {
    size_t bytes = 0;
    int error = 0;
};

class PacketBackend {
public:
    virtual ~PacketBackend() = default;

    // For log lines: the interface name.
    [[nodiscard]] virtual std::string name() const = 0;
    // Non-blocking; readable when a frame waits, writable when a frame can be sent.
    [[nodiscard]] virtual int fd() const = 0;
    // One frame into `iov`. A frame longer than the buffers is cut to fit and the rest is
    // lost (as a TAP does): a caller that must not truncate offers more room than it has.
    [[nodiscard]] virtual IoResult read_frame(std::span<const iovec> iov) = 0;
    // One frame from `iov`, whole or not at all.
    [[nodiscard]] virtual IoResult write_frame(std::span<const iovec> iov) = 0;
    // False if the back end refused (it then hands over only finished frames).
    [[nodiscard]] virtual bool set_offloads(Offloads offloads) = 0;
    // The system calls read_frame/write_frame/set_offloads and the destructor make, for the
    // seccomp allow-lists of the threads that run them (util::kDeviceThreads).
    virtual void add_syscalls(util::SeccompPolicy& /*policy*/) const {}
};

} // namespace minivmm::backends
