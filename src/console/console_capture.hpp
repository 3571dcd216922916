// The guest console's output kept in memory, for Console (output, tail, expect). The console
// device writes into it on a vCPU thread; readers copy from it and wait on it from any thread.
// It keeps the latest `limit` bytes, and never holds more memory than that, whatever one write
// brings (of a write larger than the limit only the tail is copied); offsets count from the
// first byte the guest ever wrote, so an offset stays meaningful after older output was dropped.
#pragma once

#include "devices/console_output.hpp"

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace minivmm::console {

class ConsoleCapture final : public devices::ConsoleOutput {
public:
    explicit ConsoleCapture(std::size_t limit);

    void write(std::span<const uint8_t> bytes) override;
    // The run ended (`why`: "guest powered off"...): wakes every waiter. Output that still
    // arrives is kept.
    void close(const std::string& why);

    struct Snapshot {
        uint64_t begin = 0;                // offset of text[0]
        std::string text;                  // the kept output from the asked-for offset on
        std::optional<std::string> closed; // why the run ended, once it has
    };
    // The kept output from offset `from` on (from the oldest kept byte if that is later).
    [[nodiscard]] Snapshot since(uint64_t from) const;
    // Waits until output extends past offset `end`, the capture is closed, or `deadline`.
    // False on timeout.
    [[nodiscard]] bool wait_past(uint64_t end, std::chrono::steady_clock::time_point deadline) const;

    [[nodiscard]] std::string text() const;
    // Host memory the kept output takes now: at most the limit.
    [[nodiscard]] std::size_t bytes_held() const;
    // The last `lines` lines, '\r' removed, each ending in '\n' (a partial last line too).
    [[nodiscard]] std::string tail(std::size_t lines) const;

private:
    [[nodiscard]] std::string_view view() const { return {kept_.data(), kept_.size()}; }

    const std::size_t limit_;
    mutable std::mutex mutex_;
    mutable std::condition_variable grown_;
    std::vector<char> kept_; // grown by hand: its capacity never passes limit_
    uint64_t dropped_ = 0; // bytes dropped from the front of kept_ so far
    std::optional<std::string> closed_;
};

} // namespace minivmm::console
