#include "support/virtio_mmio_driver.hpp"

#include <poll.h>

namespace minivmm::test {

bool FakePoller::readable(int fd)
{
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

} // namespace minivmm::test
