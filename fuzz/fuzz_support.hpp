// What every libFuzzer target here shares: reading typed values off the input (short reads
// give zeros, so every input is a valid program), a console output that discards, and quiet
// logs (a target that logs every input measures spdlog, not minivmm).
#pragma once

#include "devices/console_output.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>

namespace minivmm::fuzz {

class Input {
public:
    Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
    [[nodiscard]] bool empty() const { return pos_ >= size_; }
    template <typename T>
    T take()
    {
        T value{};
        const size_t n = std::min(sizeof(T), size_ - std::min(size_, pos_));
        std::memcpy(&value, data_ + std::min(size_, pos_), n);
        pos_ += sizeof(T);
        return value;
    }
    // The next `n` bytes, or as many as are left.
    std::span<const uint8_t> bytes(size_t n)
    {
        const size_t start = std::min(pos_, size_);
        const size_t len = std::min(n, size_ - start);
        pos_ += n;
        return {data_ + start, len};
    }
    // Everything not taken yet.
    std::span<const uint8_t> rest()
    {
        const size_t start = std::min(pos_, size_);
        pos_ = size_;
        return {data_ + start, size_ - start};
    }

private:
    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
};

struct NullOutput final : devices::ConsoleOutput {
    void write(std::span<const uint8_t>) override {}
};

// Once per process: logging off.
inline void silence_logs()
{
    static const bool done = [] {
        spdlog::set_level(spdlog::level::off);
        return true;
    }();
    (void)done;
}

} // namespace minivmm::fuzz
