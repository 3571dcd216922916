// The part of the 8042 PS/2 keyboard controller a VM needs (IBM PC AT Technical Reference,
// "Keyboard Controller"; command set as in Linux's drivers/input/serio/i8042.h): the
// status register, the controller configuration byte, the self tests, and the CPU reset
// line of the output port (command 0xfe, how Linux reboots by default after ACPI).
//
// No keyboard or mouse is attached and no interrupt is ever raised: bytes written for the
// keyboard (port 0x60 without a pending command) are dropped, and every command that
// answers does so at once, so Linux's direct probe (acpi=off) finishes without waiting
// for its 500 ms command timeouts: there is a controller, its AUX port fails its tests,
// and atkbd finds no keyboard (asynchronously). With ACPI, a FADT without the 8042 boot
// flag makes Linux skip the controller altogether.
// Host memory a guest can make it hold: none beyond its fixed state (sizeof(I8042)); tested
// in tests/unit/test_platform_bounds.cpp.
#pragma once

#include "devices/bus_device.hpp"
#include "util/guest_log.hpp"

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>

namespace minivmm::devices {

class I8042 final : public BusDevice {
public:
    // Registered at arch::kI8042DataPort for 5 ports, so that offset 0 is the data
    // port (0x60) and offset 4 the status/command port (0x64). Port 0x61 (system control
    // port B) belongs to the in-kernel PIT with KVM_PIT_SPEAKER_DUMMY; if an access to
    // 0x61-0x63 ever reaches this device it reads 0 (no NMI reason, speaker off).
    static constexpr uint64_t kPortCount = 5;

    enum class Port : uint8_t {
        Data = 0,
        StatusCommand = 4,
    };

    // The controller configuration byte after "POST": system flag, scan-code translation,
    // both ports disabled (nothing attached), interrupts off.
    static constexpr uint8_t kInitialConfig = 0x74;

    // `reset` is called when the guest pulses the CPU reset line; not with the lock held.
    explicit I8042(std::function<void()> reset);

    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<const uint8_t> data) override;

private:
    [[nodiscard]] uint8_t read_port(uint8_t port);
    // Return whether the guest asked for a CPU reset.
    [[nodiscard]] bool write_port(uint8_t port, uint8_t value);
    [[nodiscard]] bool run_command(uint8_t command);
    [[nodiscard]] bool write_data(uint8_t value);

    const std::function<void()> reset_;

    std::mutex mutex_;
    uint8_t config_ = kInitialConfig;
    uint8_t output_port_ = 0x03; // bit 0: reset line high (inactive), bit 1: A20 enabled
    std::optional<uint8_t> output_buffer_;
    uint8_t last_output_ = 0;
    std::optional<uint8_t> pending_command_; // a command waiting for its data byte
    bool last_write_was_command_ = false;
    util::GuestLog log_{"i8042"};
};

} // namespace minivmm::devices
