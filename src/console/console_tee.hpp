// Console output to several places at once: the in-memory capture, stdout or a file, the
// --console-log file, the line matcher. Each gets every byte, in order.
#pragma once

#include "devices/console_output.hpp"

#include <vector>

namespace minivmm::console {

class ConsoleTee final : public devices::ConsoleOutput {
public:
    // Not owned: each must outlive every write().
    explicit ConsoleTee(std::vector<devices::ConsoleOutput*> outputs) : outputs_(std::move(outputs)) {}
    void write(std::span<const uint8_t> bytes) override
    {
        for (auto* output : outputs_) {
            output->write(bytes);
        }
    }

private:
    std::vector<devices::ConsoleOutput*> outputs_;
};

} // namespace minivmm::console
