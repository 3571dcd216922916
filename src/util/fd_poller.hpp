// Watching host file descriptors on the VMM's I/O thread, as devices see it. The event
// loop implements it; device models take it as an interface so they stay free of the
// loop (and testable with a fake that calls handlers directly).
#pragma once

#include <cstdint>
#include <functional>

namespace minivmm::util {

class FdPoller {
public:
    using Handler = std::function<void(uint32_t events)>;
    virtual ~FdPoller() = default;
    // Watches `fd` for `events` (EPOLLIN, EPOLLOUT...). False if it cannot be polled.
    [[nodiscard]] virtual bool add(int fd, uint32_t events, Handler handler) = 0;
    // Changes the events of a watched fd (e.g. stop reading while a queue is full).
    [[nodiscard]] virtual bool modify(int fd, uint32_t events) = 0;
    virtual void remove(int fd) = 0;
};

} // namespace minivmm::util
