#include "backends/entropy/entropy_source.hpp"

#include "util/sys_error.hpp"

#include <sys/random.h>

#include <cerrno>

namespace minivmm::backends {

void HostEntropy::fill(std::span<std::byte> out)
{
    size_t done = 0;
    while (done < out.size()) {
        // getrandom returns at most 32 MiB - 1 per call, and may return less for a read of
        // more than 256 bytes that a signal interrupts.
        const ssize_t n = ::getrandom(out.data() + done, out.size() - done, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            util::throw_sys_error("getrandom (virtio-rng entropy)");
        }
        done += static_cast<size_t>(n);
    }
}

} // namespace minivmm::backends
