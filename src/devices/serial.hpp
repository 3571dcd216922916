// A 16550A-compatible UART (NS PC16550D datasheet, section 8 "Registers"), as Linux's 8250
// driver and the test guest drive it on COM1.
//
// Implemented: RBR/THR, IER, IIR with the FIFO bits and the four interrupt priorities,
// FCR, LCR with DLAB, DLL/DLM, MCR with OUT2 gating the IRQ and loopback, LSR, MSR, SCR.
// Transmission is instantaneous: a THR byte goes straight to the ConsoleOutput, so THRE
// and TEMT are always set. The receive FIFO holds 64 bytes (the 16550A has 16; drivers
// drain while LSR.DR is set, so the depth is invisible to them) and is backed by a bounded
// host-side queue so that pasted input is not lost.
// Left out: baud timing, parity/framing errors and break (LCR bit 6), DMA mode
// (FCR bit 3), the 16750's 64-byte FIFO bit (FCR/IIR bit 5 stay 0, so Linux sees a
// 16550A), the delta bits of real modem lines (outside loopback they are constant).
// Host memory a guest can make it hold: kFifoSize + kHostQueueSize bytes of input (a guest
// that never reads leaves host input there; the pump then stops reading; test_serial.cpp),
// fixed state otherwise; output leaves at once (ConsoleOutput never blocks or buffers
// without bound); tests/unit/test_platform_bounds.cpp.
#pragma once

#include "devices/bus_device.hpp"
#include "devices/console_input.hpp"
#include "devices/console_output.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>

namespace minivmm::devices {

class Serial8250 final : public BusDevice, public ConsoleInput {
public:
    // Eight registers from the base port (COM1: arch::kCom1Port).
    static constexpr uint64_t kPortCount = 8;
    static constexpr size_t kFifoSize = 64;
    static constexpr size_t kHostQueueSize = 4096;

    // Register offsets from the base port (PC16550D table II). Where two registers share
    // an offset, LCR.DLAB or the access direction selects one.
    enum class Register : uint8_t {
        Data = 0,            // RBR (read) / THR (write); DLL when DLAB = 1
        InterruptEnable = 1, // IER; DLM when DLAB = 1
        InterruptId = 2,     // IIR (read) / FCR (write)
        LineControl = 3,
        ModemControl = 4,
        LineStatus = 5,
        ModemStatus = 6,
        Scratch = 7,
    };

    // `output` is not owned: it must outlive every access to this device.
    Serial8250(std::shared_ptr<IrqLine> irq, ConsoleOutput& output);

    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<const uint8_t> data) override;

    // Host input (the console's input thread). Bytes beyond the free room are dropped
    // and reported to the guest as an overrun (LSR.OE).
    std::size_t receive(std::span<const uint8_t> bytes) override;
    // Whether receive() would accept at least one byte.
    [[nodiscard]] bool can_receive() const override;

private:
    [[nodiscard]] uint8_t read_register(uint8_t reg);
    void write_register(uint8_t reg, uint8_t value);

    [[nodiscard]] uint8_t interrupt_id() const;
    [[nodiscard]] uint8_t modem_status_inputs() const;
    [[nodiscard]] size_t rx_capacity() const;
    void push_rx(uint8_t byte);
    void refill_rx_from_host();
    void set_modem_control(uint8_t value);
    void update_irq();

    const std::shared_ptr<IrqLine> irq_;
    ConsoleOutput& output_;

    mutable std::mutex mutex_;
    std::deque<uint8_t> rx_fifo_;    // what the guest sees (RBR / RX FIFO)
    std::deque<uint8_t> host_queue_; // received but not yet in the FIFO
    uint8_t ier_ = 0;
    uint8_t fcr_ = 0; // last FCR value with the self-clearing bits 1-2 removed
    uint8_t lcr_ = 0;
    uint8_t mcr_ = 0;
    uint8_t lsr_errors_ = 0;  // LSR bits 1-4 latched until LSR is read
    uint8_t msr_deltas_ = 0;  // MSR bits 0-3 latched until MSR is read
    uint8_t scr_ = 0;
    uint8_t dll_ = 0x0c; // 9600 baud, what a PC BIOS leaves behind
    uint8_t dlm_ = 0;
    bool thr_interrupt_pending_ = false;
    bool irq_level_ = false;
};

} // namespace minivmm::devices
