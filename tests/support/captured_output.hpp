// A devices::ConsoleOutput that keeps everything written to it, for tests of the devices that
// write the guest's console (the UART, virtio-console).
#pragma once

#include "devices/console_output.hpp"

#include <cstdint>
#include <span>
#include <string>

namespace minivmm::test {

struct CapturedOutput final : devices::ConsoleOutput {
    void write(std::span<const uint8_t> bytes) override { text.append(bytes.begin(), bytes.end()); }
    std::string text;
};

} // namespace minivmm::test
