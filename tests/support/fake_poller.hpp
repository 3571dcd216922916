// A util::FdPoller for tests and fuzz targets: it records the watches and runs their
// handlers on demand, level-triggered like epoll (a handler runs when its fd is ready for the
// events it watches, or has an error or hang-up, which epoll always reports).
#pragma once

#include "util/fd_poller.hpp"

#include <cstdint>
#include <map>
#include <optional>

namespace minivmm::test {

class FakePoller final : public util::FdPoller {
public:
    struct Watch {
        uint32_t events = 0;
        Handler handler;
    };

    bool add(int fd, uint32_t events, Handler handler) override;
    bool modify(int fd, uint32_t events) override;
    void remove(int fd) override;

    // Runs every handler whose fd is ready now, like one epoll_wait with zero timeout (a
    // handler may add or remove watches). Returns how many handlers ran.
    int run_ready();
    // The events `fd` is watched for (nullopt: not watched).
    [[nodiscard]] std::optional<uint32_t> events(int fd) const;

    std::map<int, Watch> watches;
};

} // namespace minivmm::test
