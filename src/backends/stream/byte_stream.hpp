// A byte stream on the host for one port of a virtio-console device: where the port's bytes
// come from and go to. Non-blocking, polled on the I/O thread through fd(). The stream knows
// nothing of virtqueues; a device reads into and writes from guest buffers through iovecs.
#pragma once

#include "util/seccomp_filter.hpp"

#include <sys/types.h>
#include <sys/uio.h>

#include <span>

namespace minivmm::backends {

class ByteStream {
public:
    virtual ~ByteStream() = default;
    [[nodiscard]] virtual int fd() const = 0;
    // > 0: bytes read; 0: the other end closed; -errno on failure (-EAGAIN: nothing now).
    [[nodiscard]] virtual ssize_t read(std::span<const iovec> iov) = 0;
    // > 0: bytes written (maybe fewer than offered); -errno on failure (-EAGAIN: full now,
    // -EPIPE: the other end closed).
    [[nodiscard]] virtual ssize_t write(std::span<const iovec> iov) = 0;
    // The system calls read() and write() make, on whichever thread the device calls them
    // (docs/architecture.md "Seccomp").
    virtual void add_syscalls(util::SeccompPolicy& policy) const = 0;
};

} // namespace minivmm::backends
