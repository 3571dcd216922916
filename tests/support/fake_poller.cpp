#include "support/fake_poller.hpp"

#include <poll.h>
#include <sys/epoll.h>

namespace minivmm::test {

// poll(2) and epoll share the bit values of IN, OUT, ERR and HUP.
static_assert(POLLIN == EPOLLIN && POLLOUT == EPOLLOUT && POLLERR == EPOLLERR && POLLHUP == EPOLLHUP);

namespace {

uint32_t ready_events(int fd, uint32_t events)
{
    pollfd p{fd, static_cast<short>(events & (POLLIN | POLLOUT)), 0};
    if (::poll(&p, 1, 0) != 1) {
        return 0;
    }
    return static_cast<uint32_t>(p.revents) & (events | POLLERR | POLLHUP);
}

} // namespace

bool FakePoller::add(int fd, uint32_t events, Handler handler)
{
    watches[fd] = Watch{events, std::move(handler)};
    return true;
}

bool FakePoller::modify(int fd, uint32_t events)
{
    const auto it = watches.find(fd);
    if (it == watches.end()) {
        return false;
    }
    it->second.events = events;
    return true;
}

void FakePoller::remove(int fd) { watches.erase(fd); }

int FakePoller::run_ready()
{
    int ran = 0;
    auto copy = watches;
    for (auto& [fd, watch] : copy) {
        if (const uint32_t ready = ready_events(fd, watch.events); ready != 0) {
            watch.handler(ready);
            ++ran;
        }
    }
    return ran;
}

std::optional<uint32_t> FakePoller::events(int fd) const
{
    const auto it = watches.find(fd);
    return it == watches.end() ? std::nullopt : std::optional<uint32_t>(it->second.events);
}

} // namespace minivmm::test
