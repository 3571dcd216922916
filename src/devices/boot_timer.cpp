#include "devices/boot_timer.hpp"

#include "arch/x86_64/layout.hpp"

#include <algorithm>

namespace minivmm::devices {

BootTimer::BootTimer(std::function<void()> on_boot_done) : on_boot_done_(std::move(on_boot_done)) {}

void BootTimer::read(uint64_t /*offset*/, std::span<uint8_t> data)
{
    std::fill(data.begin(), data.end(), uint8_t{0});
}

void BootTimer::write(uint64_t offset, std::span<const uint8_t> data)
{
    // The low byte of a write at the window's start, so a wider store of 123 counts too.
    if (offset == 0 && !data.empty() && data[0] == arch::kBootTimerMagic && on_boot_done_) {
        on_boot_done_();
    }
}

} // namespace minivmm::devices
