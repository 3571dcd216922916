// Legacy I/O ports that Linux and the test guest touch but that nothing on this machine
// implements, absorbed quietly (no logging: guests hit some of them in loops) with the
// value real hardware gives. KVM handles the rest of the legacy PC in the kernel and they
// never reach the bus: the PICs (0x20/0x21, 0xa0/0xa1) and ELCR (0x4d0/0x4d1) with the
// in-kernel irqchip, the PIT (0x40-0x43) and port 0x61 with KVM_CREATE_PIT2 and
// KVM_PIT_SPEAKER_DUMMY. Ports not listed here still go to the bus's unhandled path
// (all-ones, logged at debug level through a rate limit).
// Host memory a guest can make them hold: none (stateless).
#pragma once

#include "devices/bus.hpp"
#include "devices/bus_device.hpp"

#include <array>
#include <cstdint>
#include <span>

namespace minivmm::devices {

class IgnoredPorts final : public BusDevice {
public:
    struct Range {
        uint16_t base;
        uint16_t length;
        uint8_t read_value;
        const char* name;
    };

    // What add_ignored_ports() registers, one IgnoredPorts(read_value) per range. A range
    // here that a real device later claims makes Bus::add fail loudly: remove it then.
    static constexpr std::array<Range, 6> kLegacyRanges = {{
        // Linux writes 0x80 as its I/O delay (without paravirt io_delay), and reads 0x87
        // (DMA page 0) to detect the 8237 DMA controller: 0xff says "absent", as on PCHs
        // since Skylake, which dropped 0x81-0x8f.
        {0x80, 0x10, 0xff, "post-code/dma-page"},
        {0xed, 1, 0xff, "io-delay"}, // the alternative delay port (io_delay=0xed)
        // The 8250 driver probes COM2-COM4; an open bus reads 0xff, which fails its IER
        // test at once.
        {0x2f8, 8, 0xff, "com2-absent"},
        {0x2e8, 8, 0xff, "com4-absent"},
        {0x3e8, 8, 0xff, "com3-absent"},
        // PCI configuration mechanisms #1/#2 (and the 0xcf9 reset register): there is no
        // host bridge, and all-ones makes Linux's type 1 and type 2 checks fail.
        {0xcf8, 8, 0xff, "pci-config-absent"},
    }};

    explicit IgnoredPorts(uint8_t read_value) : read_value_(read_value) {}

    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<const uint8_t> data) override;

private:
    const uint8_t read_value_;
};

// Registers every range of IgnoredPorts::kLegacyRanges on the PIO bus.
void add_ignored_ports(Bus& pio);

} // namespace minivmm::devices
