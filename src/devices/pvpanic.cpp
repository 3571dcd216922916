#include "devices/pvpanic.hpp"

namespace minivmm::devices {

void PvPanic::read(uint64_t offset, std::span<uint8_t> data)
{
    if (offset == 0 && !data.empty()) {
        data[0] = kPanicked | kCrashLoaded;
    }
}

void PvPanic::write(uint64_t offset, std::span<const uint8_t> data)
{
    if (offset != 0 || data.empty()) {
        return;
    }
    if ((data[0] & kPanicked) != 0) {
        on_panic_();
    } else if ((data[0] & kCrashLoaded) != 0) {
        // A crash kernel is loaded and will run: the guest goes on, as QEMU's default.
        log_.warn("guest panicked and is starting its crash kernel");
    }
}

} // namespace minivmm::devices
