// Where the guest's console bytes go: stdout, a file, an in-memory capture. The serial
// port calls write() with its lock held on a vCPU thread, in transmit order: an
// implementation must not call back into the device, and must never block on the host side
// (a host fd is written through console::FdOutputQueue, drained by the I/O thread).
#pragma once

#include <cstdint>
#include <span>

namespace minivmm::devices {

class ConsoleOutput {
public:
    virtual ~ConsoleOutput() = default;
    virtual void write(std::span<const uint8_t> bytes) = 0;
};

} // namespace minivmm::devices
