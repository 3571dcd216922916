// A TCP or UDP socket bound to 127.0.0.1 at a port the kernel picks (listening, for TCP): a
// server on the host's loopback for the user-mode network's tests, or a port held so that
// something else finds it in use. Catch2-free, like the rest of tests/support.
#pragma once

#include "support/support_check.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <vector>

namespace minivmm::test {

class LoopbackSocket final {
public:
    explicit LoopbackSocket(int type) : fd_(::socket(AF_INET, type | SOCK_CLOEXEC, 0))
    {
        support_check(fd_ >= 0, "socket");
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        // sockaddr_in is a sockaddr: the socket API's own convention.
        support_check(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0, "bind 127.0.0.1:0");
        socklen_t len = sizeof(addr);
        support_check(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0, "getsockname");
        port_ = ntohs(addr.sin_port);
        if (type == SOCK_STREAM) {
            support_check(::listen(fd_, 4) == 0, "listen");
        }
    }
    ~LoopbackSocket() { ::close(fd_); }
    LoopbackSocket(const LoopbackSocket&) = delete;
    LoopbackSocket& operator=(const LoopbackSocket&) = delete;

    [[nodiscard]] int fd() const { return fd_; }
    [[nodiscard]] uint16_t port() const { return port_; }
    [[nodiscard]] bool readable(int timeout_ms) const { return wait_readable(fd_, timeout_ms); }

    static bool wait_readable(int fd, int timeout_ms)
    {
        pollfd pfd{fd, POLLIN, 0};
        return ::poll(&pfd, 1, timeout_ms) == 1;
    }

    // Reads from `fd` until `size` bytes came (or a read fails, ends, or waits `timeout_ms`).
    static std::vector<uint8_t> read_exactly(int fd, size_t size, int timeout_ms = 5000)
    {
        std::vector<uint8_t> got;
        while (got.size() < size && wait_readable(fd, timeout_ms)) {
            uint8_t buffer[65536];
            const ssize_t n = ::read(fd, buffer, sizeof(buffer));
            if (n <= 0) {
                break;
            }
            got.insert(got.end(), buffer, buffer + n);
        }
        return got;
    }

private:
    int fd_;
    uint16_t port_ = 0;
};

} // namespace minivmm::test
