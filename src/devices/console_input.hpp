// Where host console input goes in the guest: the UART's receive FIFO or the
// virtio-console receive queue. The I/O thread's input pump feeds exactly one of them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace minivmm::devices {

class ConsoleInput {
public:
    virtual ~ConsoleInput() = default;
    // Host input: the device takes the leading bytes it has room for and returns how many;
    // the rest stay with the caller, to be offered again (nothing is dropped).
    virtual std::size_t receive(std::span<const uint8_t> bytes) = 0;
    // Whether receive() would accept at least one byte; while false the pump stops reading.
    [[nodiscard]] virtual bool can_receive() const = 0;
};

} // namespace minivmm::devices
