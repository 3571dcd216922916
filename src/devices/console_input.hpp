// Where host console input goes in the guest: the UART's receive FIFO or the
// virtio-console receive queue. The I/O thread's input pump feeds exactly one of them.
#pragma once

#include <cstdint>
#include <span>

namespace minivmm {

class ConsoleInput {
public:
    virtual ~ConsoleInput() = default;
    // Host input; the device takes as much as it has room for (callers check first).
    virtual void receive(std::span<const uint8_t> bytes) = 0;
    // Whether receive() would accept at least one byte; while false the pump stops reading.
    [[nodiscard]] virtual bool can_receive() const = 0;
};

} // namespace minivmm
