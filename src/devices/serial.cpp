#include "devices/serial.hpp"

#include <array>

namespace minivmm::devices {

namespace {

// IER bits (PC16550D section 8.4).
constexpr uint8_t kIerRxData = 0x01;      // ERBFI
constexpr uint8_t kIerThrEmpty = 0x02;    // ETBEI
constexpr uint8_t kIerLineStatus = 0x04;  // ELSI
constexpr uint8_t kIerModemStatus = 0x08; // EDSSI
constexpr uint8_t kIerMask = 0x0f;        // bits 4-7 are always 0

// IIR values (section 8.5, table IV): bit 0 clear means "interrupt pending".
constexpr uint8_t kIirNone = 0x01;
constexpr uint8_t kIirLineStatus = 0x06;
constexpr uint8_t kIirRxData = 0x04;
constexpr uint8_t kIirRxTimeout = 0x0c;
constexpr uint8_t kIirThrEmpty = 0x02;
constexpr uint8_t kIirModemStatus = 0x00;
constexpr uint8_t kIirFifoEnabled = 0xc0; // bits 7:6 set when FCR0 = 1

// FCR bits (section 8.5).
constexpr uint8_t kFcrEnable = 0x01;
constexpr uint8_t kFcrClearRx = 0x02;
constexpr uint8_t kFcrStoredBits = 0xc9; // enable, DMA mode, trigger level; bits 1-2 self-clear

// LCR bit 7 selects the divisor latch (section 8.6.1).
constexpr uint8_t kLcrDlab = 0x80;

// MCR bits (section 8.6.6).
constexpr uint8_t kMcrDtr = 0x01;
constexpr uint8_t kMcrRts = 0x02;
constexpr uint8_t kMcrOut1 = 0x04;
constexpr uint8_t kMcrOut2 = 0x08;
constexpr uint8_t kMcrLoop = 0x10;
constexpr uint8_t kMcrMask = 0x1f; // bits 5-7 are always 0

// LSR bits (section 8.6.3).
constexpr uint8_t kLsrDataReady = 0x01;
constexpr uint8_t kLsrOverrun = 0x02;
constexpr uint8_t kLsrThrEmpty = 0x20;
constexpr uint8_t kLsrTransmitterEmpty = 0x40;

// MSR bits (section 8.6.7): inputs in 7:4, their deltas in 3:0.
constexpr uint8_t kMsrDcts = 0x01;
constexpr uint8_t kMsrDdsr = 0x02;
constexpr uint8_t kMsrTeri = 0x04;
constexpr uint8_t kMsrDdcd = 0x08;
constexpr uint8_t kMsrCts = 0x10;
constexpr uint8_t kMsrDsr = 0x20;
constexpr uint8_t kMsrRi = 0x40;
constexpr uint8_t kMsrDcd = 0x80;

// RX FIFO trigger levels selected by FCR bits 7:6 (section 8.5).
constexpr std::array<size_t, 4> kRxTriggerLevels = {1, 4, 8, 14};

} // namespace

Serial8250::Serial8250(std::shared_ptr<IrqLine> irq, ConsoleOutput& output) : irq_(std::move(irq)), output_(output)
{
}

// A wider access is split into byte accesses to consecutive registers, as the ISA bus
// does for an 8-bit device.
void Serial8250::read(uint64_t offset, std::span<uint8_t> data)
{
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < data.size() && offset + i < kPortCount; ++i) {
        data[i] = read_register(static_cast<uint8_t>(offset + i));
    }
    update_irq();
}

void Serial8250::write(uint64_t offset, std::span<const uint8_t> data)
{
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < data.size() && offset + i < kPortCount; ++i) {
        write_register(static_cast<uint8_t>(offset + i), data[i]);
    }
    update_irq();
}

std::size_t Serial8250::receive(std::span<const uint8_t> bytes)
{
    std::lock_guard lock(mutex_);
    std::size_t taken = 0;
    for (uint8_t byte : bytes) {
        refill_rx_from_host(); // the FIFO first, so that it and the queue both fill
        if (host_queue_.size() >= kHostQueueSize) {
            break; // the rest waits with the caller, as on a line with flow control
        }
        host_queue_.push_back(byte);
        ++taken;
    }
    refill_rx_from_host();
    update_irq();
    return taken;
}

bool Serial8250::can_receive() const
{
    std::lock_guard lock(mutex_);
    return host_queue_.size() < kHostQueueSize;
}

uint8_t Serial8250::read_register(uint8_t reg)
{
    const bool dlab = (lcr_ & kLcrDlab) != 0;
    switch (static_cast<Register>(reg)) {
    case Register::Data: {
        if (dlab) {
            return dll_;
        }
        if (rx_fifo_.empty()) {
            return 0;
        }
        const uint8_t byte = rx_fifo_.front();
        rx_fifo_.pop_front();
        refill_rx_from_host();
        return byte;
    }
    case Register::InterruptEnable:
        return dlab ? dlm_ : ier_;
    case Register::InterruptId: {
        const uint8_t id = interrupt_id();
        // Reading IIR while THRE is the reported source clears it (table IV).
        if (id == kIirThrEmpty) {
            thr_interrupt_pending_ = false;
        }
        return static_cast<uint8_t>(id | ((fcr_ & kFcrEnable) != 0 ? kIirFifoEnabled : 0));
    }
    case Register::LineControl:
        return lcr_;
    case Register::ModemControl:
        return mcr_;
    case Register::LineStatus: {
        uint8_t lsr = kLsrThrEmpty | kLsrTransmitterEmpty | lsr_errors_;
        if (!rx_fifo_.empty()) {
            lsr |= kLsrDataReady;
        }
        lsr_errors_ = 0; // reading LSR clears OE/PE/FE/BI and the line status interrupt
        return lsr;
    }
    case Register::ModemStatus: {
        const uint8_t msr = modem_status_inputs() | msr_deltas_;
        msr_deltas_ = 0;
        return msr;
    }
    case Register::Scratch:
        return scr_;
    }
    return 0;
}

void Serial8250::write_register(uint8_t reg, uint8_t value)
{
    const bool dlab = (lcr_ & kLcrDlab) != 0;
    switch (static_cast<Register>(reg)) {
    case Register::Data:
        if (dlab) {
            dll_ = value;
            return;
        }
        if ((mcr_ & kMcrLoop) != 0) {
            push_rx(value); // loopback: the transmitter feeds the receiver (section 8.6.6)
        } else {
            output_.write(std::span<const uint8_t>(&value, 1));
        }
        // Writing THR clears the THRE interrupt; the byte leaves at once, so THR is empty
        // again and THRE is due again. Linux's TX interrupt handler depends on this.
        thr_interrupt_pending_ = true;
        return;
    case Register::InterruptEnable: {
        if (dlab) {
            dlm_ = value;
            return;
        }
        const uint8_t changed = (ier_ ^ value) & kIerMask;
        ier_ = value & kIerMask;
        // Enabling ETBEI while THR is empty raises THRE even if an IIR read cleared it
        // before; Linux's startup test (UART_BUG_THRE) and its start_tx rely on this.
        if ((changed & kIerThrEmpty) != 0) {
            thr_interrupt_pending_ = (ier_ & kIerThrEmpty) != 0;
        }
        return;
    }
    case Register::InterruptId: {
        // FCR. "Changing FCR0 automatically resets both FIFOs", and with FCR0 = 0 the
        // other bits are not programmed (section 8.5).
        if (((value ^ fcr_) & kFcrEnable) != 0) {
            rx_fifo_.clear();
        }
        if ((value & kFcrEnable) == 0) {
            fcr_ = 0;
        } else {
            if ((value & kFcrClearRx) != 0) {
                rx_fifo_.clear();
            }
            fcr_ = value & kFcrStoredBits;
        }
        refill_rx_from_host();
        return;
    }
    case Register::LineControl:
        lcr_ = value;
        return;
    case Register::ModemControl:
        set_modem_control(value & kMcrMask);
        return;
    case Register::LineStatus:
    case Register::ModemStatus:
        return; // read-only (writing them is a factory test mode)
    case Register::Scratch:
        scr_ = value;
        return;
    }
}

uint8_t Serial8250::interrupt_id() const
{
    // Priorities of table IV: line status > RX data > THR empty > modem status.
    if ((ier_ & kIerLineStatus) != 0 && lsr_errors_ != 0) {
        return kIirLineStatus;
    }
    if ((ier_ & kIerRxData) != 0 && !rx_fifo_.empty()) {
        // Below the trigger level the 16550A reports a character timeout after four
        // character times without a read. Input arrives in bursts with no baud timing,
        // so the timeout is taken to have expired already.
        if ((fcr_ & kFcrEnable) != 0 && rx_fifo_.size() < kRxTriggerLevels[fcr_ >> 6]) {
            return kIirRxTimeout;
        }
        return kIirRxData;
    }
    if ((ier_ & kIerThrEmpty) != 0 && thr_interrupt_pending_) {
        return kIirThrEmpty;
    }
    if ((ier_ & kIerModemStatus) != 0 && msr_deltas_ != 0) {
        return kIirModemStatus;
    }
    return kIirNone;
}

uint8_t Serial8250::modem_status_inputs() const
{
    if ((mcr_ & kMcrLoop) == 0) {
        // No modem attached: a permanent carrier, so Linux's tty open never waits for DCD.
        return kMsrDcd | kMsrDsr | kMsrCts;
    }
    // Loopback wires DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD (section 8.6.6).
    uint8_t inputs = 0;
    inputs |= (mcr_ & kMcrDtr) != 0 ? kMsrDsr : 0;
    inputs |= (mcr_ & kMcrRts) != 0 ? kMsrCts : 0;
    inputs |= (mcr_ & kMcrOut1) != 0 ? kMsrRi : 0;
    inputs |= (mcr_ & kMcrOut2) != 0 ? kMsrDcd : 0;
    return inputs;
}

void Serial8250::set_modem_control(uint8_t value)
{
    const uint8_t before = modem_status_inputs();
    const bool was_loop = (mcr_ & kMcrLoop) != 0;
    mcr_ = value;
    const uint8_t after = modem_status_inputs();
    const uint8_t changed = before ^ after;
    msr_deltas_ |= (changed & kMsrCts) != 0 ? kMsrDcts : 0;
    msr_deltas_ |= (changed & kMsrDsr) != 0 ? kMsrDdsr : 0;
    msr_deltas_ |= (before & kMsrRi) != 0 && (after & kMsrRi) == 0 ? kMsrTeri : 0; // trailing edge only
    msr_deltas_ |= (changed & kMsrDcd) != 0 ? kMsrDdcd : 0;
    if (was_loop && (mcr_ & kMcrLoop) == 0) {
        refill_rx_from_host(); // host input waited while the receiver was disconnected
    }
}

size_t Serial8250::rx_capacity() const
{
    // With FIFOs off the UART is a 16450: a single receiver buffer register.
    return (fcr_ & kFcrEnable) != 0 ? kFifoSize : 1;
}

void Serial8250::push_rx(uint8_t byte)
{
    if (rx_fifo_.size() < rx_capacity()) {
        rx_fifo_.push_back(byte);
        return;
    }
    // Overrun (section 8.6.3, LSR bit 1): in FIFO mode the new character is lost; in 16450
    // mode it overwrites the unread one.
    lsr_errors_ |= kLsrOverrun;
    if ((fcr_ & kFcrEnable) == 0) {
        rx_fifo_.back() = byte;
    }
}

void Serial8250::refill_rx_from_host()
{
    // In loopback the serial input is disconnected (section 8.6.6): host bytes wait.
    if ((mcr_ & kMcrLoop) != 0) {
        return;
    }
    while (!host_queue_.empty() && rx_fifo_.size() < rx_capacity()) {
        rx_fifo_.push_back(host_queue_.front());
        host_queue_.pop_front();
    }
}

void Serial8250::update_irq()
{
    // On a PC the UART's INTR reaches the ISA IRQ through a buffer enabled by OUT2, and
    // loopback forces the OUT2 pin inactive (section 8.6.6). The level is sampled once per
    // access: a THR write while THRE is already pending does not make a second edge, which
    // is harmless because Linux's handler reads IIR until no interrupt is pending, so the
    // line falls before it returns.
    const bool pending = interrupt_id() != kIirNone;
    const bool level = pending && (mcr_ & (kMcrOut2 | kMcrLoop)) == kMcrOut2;
    if (level != irq_level_) {
        irq_level_ = level;
        irq_->set_level(level);
    }
}

} // namespace minivmm::devices
