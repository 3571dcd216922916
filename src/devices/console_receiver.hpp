// The guest side of console input: the device that takes the host's keystrokes (the 8250
// UART on COM1, or a virtio-console port). The VMM's one console input path (ConsoleInput)
// calls it on the I/O thread only, never giving it more than receive_room() bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace minivmm {

class ConsoleReceiver {
public:
    virtual ~ConsoleReceiver() = default;
    // How many bytes receive() takes now without dropping any (0: full until the guest reads).
    [[nodiscard]] virtual std::size_t receive_room() const = 0;
    virtual void receive(std::span<const uint8_t> bytes) = 0;
};

} // namespace minivmm
