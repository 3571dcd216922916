#include "support/virtio_mmio_driver.hpp"

#include <poll.h>
#include <sys/epoll.h>

namespace minivmm::test {

static_assert(POLLIN == EPOLLIN && POLLOUT == EPOLLOUT && POLLERR == EPOLLERR && POLLHUP == EPOLLHUP);

uint32_t FakePoller::ready_events(int fd, uint32_t events)
{
    // poll(2) and epoll share the bit values of IN, OUT, ERR and HUP.
    pollfd p{fd, static_cast<short>(events & (POLLIN | POLLOUT)), 0};
    if (::poll(&p, 1, 0) != 1) {
        return 0;
    }
    return static_cast<uint32_t>(p.revents) & (events | POLLERR | POLLHUP);
}

} // namespace minivmm::test
