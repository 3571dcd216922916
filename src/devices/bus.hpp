// An address space (port I/O or MMIO) mapping ranges to devices.
// Ranges are registered up front by the VM builder; overlapping or wrapping ranges are
// rejected. Lookups after the VM starts are lock-free reads of an immutable table.
// Host memory a guest can make it hold: none (the table is fixed before the VM starts and
// unhandled accesses are logged through a rate limit, not remembered); tested with the
// platform devices in tests/unit/test_platform_bounds.cpp.
#pragma once

#include "devices/bus_device.hpp"
#include "util/guest_log.hpp"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace minivmm::devices {

class Bus final {
public:
    explicit Bus(std::string name) : name_(std::move(name)), log_(name_ + " bus") {}

    // Throws HostError on a zero-length, wrapping or overlapping range.
    void add(uint64_t base, uint64_t length, std::shared_ptr<BusDevice> device, std::string device_name);

    // Dispatch. An access that no device covers reads as all-ones and is ignored on
    // write, and logged (debug level, through the bus's GuestLog: guests probe ports in loops). Returns whether a device
    // handled it. An access straddling the end of a device's range is also unhandled.
    bool read(uint64_t address, std::span<uint8_t> data) const;
    bool write(uint64_t address, std::span<const uint8_t> data) const;

    struct Range {
        uint64_t base;
        uint64_t length;
        std::shared_ptr<BusDevice> device;
        std::string name;
    };
    [[nodiscard]] std::span<const Range> ranges() const { return ranges_; }

private:
    [[nodiscard]] const Range* find(uint64_t address, uint64_t size) const;
    void note_unhandled(const char* kind, uint64_t address, size_t size) const;

    std::string name_;
    std::vector<Range> ranges_; // sorted by base
    mutable util::GuestLog log_;
};

} // namespace minivmm::devices
