#include "devices/i8042.hpp"


namespace minivmm::devices {

namespace {

// Status register bits.
constexpr uint8_t kStatusOutputFull = 0x01;
constexpr uint8_t kStatusSystemFlag = 0x04;   // mirrors configuration bit 2
constexpr uint8_t kStatusLastWasCommand = 0x08; // A2 of the last write
constexpr uint8_t kStatusNotInhibited = 0x10; // keyboard lock switch open

// Configuration byte bits.
constexpr uint8_t kConfigSystemFlag = 0x04;
constexpr uint8_t kConfigKeyboardDisabled = 0x10;
constexpr uint8_t kConfigAuxDisabled = 0x20;

// Output port bit 0 drives the CPU reset line, active low.
constexpr uint8_t kOutputPortReset = 0x01;

// Controller commands (written to port 0x64).
enum class Command : uint8_t {
    ReadConfig = 0x20,
    WriteConfig = 0x60,
    DisableAux = 0xa7,
    EnableAux = 0xa8,
    TestAux = 0xa9,
    SelfTest = 0xaa,
    TestKeyboard = 0xab,
    DisableKeyboard = 0xad,
    EnableKeyboard = 0xae,
    ReadOutputPort = 0xd0,
    WriteOutputPort = 0xd1,
    WriteKeyboardOutput = 0xd2,
    WriteAuxOutput = 0xd3,
    WriteToAux = 0xd4,
};
constexpr uint8_t kPulseOutputFirst = 0xf0; // 0xf0-0xff pulse output port bits 3:0 low

constexpr uint8_t kSelfTestPassed = 0x55;
constexpr uint8_t kInterfaceOk = 0x00;
constexpr uint8_t kAuxClockStuckLow = 0x01;

} // namespace

I8042::I8042(std::function<void()> reset) : reset_(std::move(reset)) {}

void I8042::read(uint64_t offset, std::span<uint8_t> data)
{
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < data.size() && offset + i < kPortCount; ++i) {
        data[i] = read_port(static_cast<uint8_t>(offset + i));
    }
}

void I8042::write(uint64_t offset, std::span<const uint8_t> data)
{
    bool reset = false;
    {
        std::lock_guard lock(mutex_);
        for (size_t i = 0; i < data.size() && offset + i < kPortCount; ++i) {
            reset = write_port(static_cast<uint8_t>(offset + i), data[i]) || reset;
        }
    }
    if (reset && reset_) {
        reset_();
    }
}

uint8_t I8042::read_port(uint8_t port)
{
    switch (static_cast<Port>(port)) {
    case Port::Data:
        if (output_buffer_) {
            last_output_ = *output_buffer_;
            output_buffer_.reset();
        }
        return last_output_; // an empty buffer reads as its last byte
    case Port::StatusCommand: {
        // The input buffer is consumed at once, so IBF is never set: Linux's kb_wait()
        // and i8042_wait_write() never spin.
        uint8_t status = kStatusNotInhibited;
        status |= output_buffer_ ? kStatusOutputFull : uint8_t{0};
        status |= (config_ & kConfigSystemFlag) != 0 ? kStatusSystemFlag : 0;
        status |= last_write_was_command_ ? kStatusLastWasCommand : 0;
        return status;
    }
    }
    return 0;
}

bool I8042::write_port(uint8_t port, uint8_t value)
{
    switch (static_cast<Port>(port)) {
    case Port::Data:
        last_write_was_command_ = false;
        return write_data(value);
    case Port::StatusCommand:
        last_write_was_command_ = true;
        pending_command_.reset(); // a new command abandons one waiting for data
        return run_command(value);
    }
    return false;
}

bool I8042::run_command(uint8_t command)
{
    if (command >= kPulseOutputFirst) {
        // Pulse the output port bits whose command bits are 0; bit 0 is the reset line
        // (0xfe is the classic "pulse reset").
        return (command & kOutputPortReset) == 0;
    }
    switch (static_cast<Command>(command)) {
    case Command::ReadConfig:
        output_buffer_ = config_;
        return false;
    case Command::WriteConfig:
    case Command::WriteOutputPort:
    case Command::WriteKeyboardOutput:
    case Command::WriteAuxOutput:
    case Command::WriteToAux:
        pending_command_ = command;
        return false;
    case Command::DisableAux:
        config_ |= kConfigAuxDisabled;
        return false;
    case Command::EnableAux:
        config_ &= static_cast<uint8_t>(~kConfigAuxDisabled);
        return false;
    case Command::TestAux:
        output_buffer_ = kAuxClockStuckLow; // no mouse: Linux gives up on the AUX port
        return false;
    case Command::SelfTest:
        output_buffer_ = kSelfTestPassed;
        return false;
    case Command::TestKeyboard:
        output_buffer_ = kInterfaceOk;
        return false;
    case Command::DisableKeyboard:
        config_ |= kConfigKeyboardDisabled;
        return false;
    case Command::EnableKeyboard:
        config_ &= static_cast<uint8_t>(~kConfigKeyboardDisabled);
        return false;
    case Command::ReadOutputPort:
        output_buffer_ = output_port_;
        return false;
    }
    log_.debug("ignoring unknown command {:#04x}", command);
    return false;
}

bool I8042::write_data(uint8_t value)
{
    if (!pending_command_) {
        return false; // for the keyboard, and there is none
    }
    const auto command = static_cast<Command>(*pending_command_);
    pending_command_.reset();
    switch (command) {
    case Command::WriteConfig:
        config_ = value;
        return false;
    case Command::WriteOutputPort:
        output_port_ = value | kOutputPortReset;
        return (value & kOutputPortReset) == 0;
    case Command::WriteKeyboardOutput:
    case Command::WriteAuxOutput:
        // Echoed as keyboard data even for 0xd3: without the AUX status bit Linux's AUX
        // loop test fails at once instead of timing out, then 0xa9 reports no mouse.
        output_buffer_ = value;
        return false;
    default:
        return false; // 0xd4: a byte for the mouse, and there is none
    }
}

} // namespace minivmm::devices
