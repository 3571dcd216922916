#include "support/captured_output.hpp"
#include "devices/serial.hpp"

#include "devices/bus.hpp"
#include "arch/x86_64/layout.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <memory>
#include <string>
#include <vector>

using namespace minivmm;

namespace {

struct RecordingIrq final : devices::IrqLine {
    std::vector<bool> changes;
    bool level = false;
    void set_level(bool high) override
    {
        changes.push_back(high);
        level = high;
    }
};

using test::CapturedOutput;

// Register offsets and bits as Linux's include/uapi/linux/serial_reg.h names them.
constexpr uint8_t RX = 0, TX = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6,
                  SCR = 7;
constexpr uint8_t IER_RDI = 0x01, IER_THRI = 0x02, IER_RLSI = 0x04, IER_MSI = 0x08;
constexpr uint8_t IIR_NO_INT = 0x01, IIR_MSI = 0x00, IIR_THRI = 0x02, IIR_RDI = 0x04, IIR_RLSI = 0x06,
                  IIR_RX_TIMEOUT = 0x0c;
constexpr uint8_t FCR_ENABLE = 0x01, FCR_CLEAR_RCVR = 0x02, FCR_CLEAR_XMIT = 0x04;
constexpr uint8_t LCR_DLAB = 0x80, LCR_WLEN8 = 0x03;
constexpr uint8_t MCR_DTR = 0x01, MCR_RTS = 0x02, MCR_OUT1 = 0x04, MCR_OUT2 = 0x08, MCR_LOOP = 0x10;
constexpr uint8_t LSR_DR = 0x01, LSR_OE = 0x02, LSR_THRE = 0x20, LSR_TEMT = 0x40;
constexpr uint8_t MSR_DCTS = 0x01, MSR_DDSR = 0x02, MSR_TERI = 0x04, MSR_DDCD = 0x08, MSR_CTS = 0x10, MSR_DSR = 0x20,
                  MSR_RI = 0x40, MSR_DCD = 0x80;

struct Uart {
    std::shared_ptr<RecordingIrq> irq = std::make_shared<RecordingIrq>();
    std::shared_ptr<CapturedOutput> output = std::make_shared<CapturedOutput>();
    devices::Serial8250 serial{irq, *output};

    uint8_t in(uint8_t reg)
    {
        std::array<uint8_t, 1> byte{};
        serial.read(reg, byte);
        return byte[0];
    }
    void out(uint8_t reg, uint8_t value) { serial.write(reg, std::span<const uint8_t>(&value, 1)); }
    std::size_t receive(const std::string& text)
    {
        const std::vector<uint8_t> bytes(text.begin(), text.end());
        return serial.receive(bytes);
    }
    std::string drain()
    {
        std::string got;
        while ((in(LSR) & LSR_DR) != 0) {
            got.push_back(static_cast<char>(in(RX)));
        }
        return got;
    }
};

} // namespace

TEST_CASE("serial: Linux 8250 autoconfig identifies a 16550A", "[unit][serial]")
{
    Uart u;
    // Existence test: IER bits 0-3 read back as written.
    const uint8_t saved_ier = u.in(IER);
    u.out(IER, 0);
    CHECK((u.in(IER) & 0x0f) == 0);
    u.out(IER, 0x0f);
    CHECK((u.in(IER) & 0x0f) == 0x0f);
    u.out(IER, saved_ier);

    // Scratch register.
    u.out(SCR, 0x55);
    CHECK(u.in(SCR) == 0x55);
    u.out(SCR, 0xaa);
    CHECK(u.in(SCR) == 0xaa);

    // Loopback test: LOOP|OUT2|RTS must show DCD|CTS in MSR bits 7:4.
    const uint8_t saved_mcr = u.in(MCR);
    const uint8_t saved_lcr = u.in(LCR);
    u.out(MCR, MCR_LOOP | MCR_OUT2 | MCR_RTS);
    CHECK((u.in(MSR) & 0xf0) == (MSR_DCD | MSR_CTS));
    u.out(MCR, saved_mcr);

    // EFR = 0 (at the FCR offset with LCR = 0xbf), then FIFO detection via IIR bits 7:6.
    u.out(LCR, 0xbf);
    u.out(2, 0);
    u.out(LCR, 0);
    u.out(FCR, FCR_ENABLE);
    CHECK((u.in(IIR) >> 6) == 3);

    // autoconfig_16550a: no EFR under LCR 0x80 or 0xbf (IIR must not read 0 there) ...
    u.out(LCR, 0x80);
    CHECK(u.in(2) != 0);
    u.out(LCR, 0xbf);
    CHECK(u.in(2) != 0);
    // ... not an NS SuperIO (IIR bit 4 does not follow MCR.LOOP under LCR 0xe0) ...
    u.out(LCR, 0);
    u.out(MCR, saved_mcr ^ MCR_LOOP);
    u.out(LCR, 0xe0);
    CHECK((u.in(2) & 0x10) == 0);
    u.out(LCR, 0);
    u.out(MCR, saved_mcr);
    // ... not a 16750 (IIR bit 5 stays 0 with FCR bit 5), not an XScale (IER bit 6 sticks not).
    u.out(FCR, FCR_ENABLE | 0x20);
    CHECK((u.in(IIR) & 0xe0) == 0xc0);
    u.out(LCR, 0x80);
    u.out(FCR, FCR_ENABLE | 0x20);
    u.out(LCR, 0);
    CHECK((u.in(IIR) & 0xe0) == 0xc0);
    u.out(FCR, 0);
    u.out(IER, 0x40);
    CHECK((u.in(IER) & 0x40) == 0);
    u.out(IER, 0);
    u.out(LCR, saved_lcr);

    // serial8250_do_startup bails out if LSR reads 0xff.
    CHECK(u.in(LSR) != 0xff);
    CHECK(u.irq->changes.empty());
}

TEST_CASE("serial: divisor latch shares offsets 0 and 1 under DLAB", "[unit][serial]")
{
    Uart u;
    u.out(IER, IER_RDI);
    u.out(LCR, LCR_DLAB | LCR_WLEN8);
    u.out(DLL, 0x01);
    u.out(DLM, 0x02);
    CHECK(u.in(DLL) == 0x01);
    CHECK(u.in(DLM) == 0x02);
    CHECK(u.in(LCR) == (LCR_DLAB | LCR_WLEN8));
    u.out(LCR, LCR_WLEN8);
    CHECK(u.in(IER) == IER_RDI); // IER untouched by the DLM write
    CHECK(u.output->text.empty());    // the DLL write transmitted nothing
    u.out(TX, 'x');
    CHECK(u.output->text == "x");
    u.out(LCR, LCR_DLAB);
    CHECK(u.in(DLL) == 0x01); // and the THR write left DLL alone
}

TEST_CASE("serial: transmitted bytes reach the console output at once", "[unit][serial]")
{
    Uart u;
    for (char c : std::string("hello\n")) {
        CHECK((u.in(LSR) & (LSR_THRE | LSR_TEMT)) == (LSR_THRE | LSR_TEMT));
        u.out(TX, static_cast<uint8_t>(c));
    }
    CHECK(u.output->text == "hello\n");
    CHECK((u.in(LSR) & (LSR_THRE | LSR_TEMT)) == (LSR_THRE | LSR_TEMT));
}

TEST_CASE("serial: received bytes fill the RX FIFO and set DR", "[unit][serial]")
{
    Uart u;
    CHECK((u.in(LSR) & LSR_DR) == 0);
    u.out(FCR, FCR_ENABLE);
    u.receive("abc");
    CHECK((u.in(LSR) & LSR_DR) != 0);
    CHECK(u.in(RX) == 'a');
    CHECK(u.drain() == "bc");
    CHECK((u.in(LSR) & LSR_DR) == 0);

    SECTION("a paste larger than the FIFO waits on the host side, in order")
    {
        std::string paste;
        for (int i = 0; i < 1000; ++i) {
            paste.push_back(static_cast<char>('a' + i % 26));
        }
        u.receive(paste);
        CHECK(u.drain() == paste);
        CHECK((u.in(LSR) & LSR_OE) == 0);
    }
    SECTION("with FIFOs off the receiver holds one byte, the rest wait")
    {
        u.out(FCR, 0);
        u.receive("xyz");
        CHECK(u.drain() == "xyz");
        CHECK((u.in(LSR) & LSR_OE) == 0);
    }
    SECTION("beyond FIFO and host queue, bytes are refused and stay with the sender")
    {
        constexpr std::size_t kRoom = devices::Serial8250::kFifoSize + devices::Serial8250::kHostQueueSize;
        CHECK(u.serial.can_receive());
        CHECK(u.receive(std::string(kRoom, 'q') + "!!") == kRoom);
        CHECK_FALSE(u.serial.can_receive());
        CHECK(u.receive("!") == 0);
        CHECK((u.in(LSR) & LSR_OE) == 0); // nothing was lost
        CHECK(u.drain() == std::string(kRoom, 'q'));
        CHECK(u.serial.can_receive());
        CHECK(u.receive("!") == 1);
        CHECK(u.drain() == "!");
    }
    SECTION("FCR clears the RX FIFO")
    {
        u.receive("junk");
        u.out(FCR, FCR_ENABLE | FCR_CLEAR_RCVR | FCR_CLEAR_XMIT);
        CHECK((u.in(LSR) & LSR_DR) == 0);
    }
}

TEST_CASE("serial: THRE interrupt raise and clear rules", "[unit][serial]")
{
    Uart u;
    u.out(MCR, MCR_OUT2);
    CHECK(u.in(IIR) == IIR_NO_INT);
    CHECK(u.in(LSR) == (LSR_THRE | LSR_TEMT));

    // Enabling ETBEI with THR empty raises THRE.
    u.out(IER, IER_THRI);
    CHECK(u.irq->level);
    CHECK(u.in(IIR) == IIR_THRI); // reading IIR while THRE is the source clears it
    CHECK_FALSE(u.irq->level);
    CHECK(u.in(IIR) == IIR_NO_INT);

    // Writing THR clears it, and the instantly sent byte leaves THR empty again.
    u.out(TX, 'a');
    CHECK(u.irq->level);
    CHECK(u.in(IIR) == IIR_THRI);
    CHECK_FALSE(u.irq->level);

    // Linux's UART_BUG_THRE test: IER=THRI, read IIR, IER=0, IER=THRI, read IIR again.
    u.out(IER, 0);
    u.out(IER, IER_THRI);
    const uint8_t iir1 = u.in(IIR);
    u.out(IER, 0);
    u.out(IER, IER_THRI);
    const uint8_t iir = u.in(IIR);
    u.out(IER, 0);
    CHECK_FALSE((!(iir1 & IIR_NO_INT) && (iir & IIR_NO_INT)));
    CHECK(iir == IIR_THRI);
    CHECK_FALSE(u.irq->level);

    // Disabling ETBEI drops a pending THRE.
    u.out(IER, IER_THRI);
    CHECK(u.irq->level);
    u.out(IER, 0);
    CHECK_FALSE(u.irq->level);
    // Every rise was followed by a fall: ten level changes, alternating.
    CHECK(u.irq->changes == std::vector<bool>{true, false, true, false, true, false, true, false, true, false});
}

TEST_CASE("serial: interrupt priorities, FIFO bits and line levels", "[unit][serial]")
{
    Uart u;
    u.out(FCR, FCR_ENABLE | 0xc0); // trigger level 14
    u.out(IER, IER_RDI | IER_THRI | IER_RLSI | IER_MSI);
    u.in(IIR); // consume THRE

    SECTION("OUT2 gates the line")
    {
        u.receive("x");
        CHECK((u.in(IIR) & 0x0f) != IIR_NO_INT);
        CHECK_FALSE(u.irq->level);
        u.out(MCR, MCR_OUT2);
        CHECK(u.irq->level);
        u.out(MCR, 0);
        CHECK_FALSE(u.irq->level);
    }
    SECTION("line status > RX data > THR empty > modem status")
    {
        u.out(MCR, MCR_OUT2 | MCR_DTR); // DTR: no MSR change outside loopback
        u.out(TX, '1');                 // THRE pending again
        u.receive("abc");
        CHECK(u.in(IIR) == (0xc0 | IIR_RX_TIMEOUT)); // below the trigger level of 14
        u.receive(std::string(11, 'd'));
        CHECK(u.in(IIR) == (0xc0 | IIR_RDI)); // at the trigger level
        // Overrun through loopback (host input never overruns: it waits), to get a line
        // status interrupt on top.
        u.out(MCR, MCR_OUT2 | MCR_DTR | MCR_LOOP);
        for (std::size_t i = 14; i <= devices::Serial8250::kFifoSize; ++i) {
            u.out(TX, 'e');
        }
        u.out(MCR, MCR_OUT2 | MCR_DTR);
        (void)u.in(MSR); // clears the modem status change that loopback caused
        CHECK(u.in(IIR) == (0xc0 | IIR_RLSI));
        CHECK((u.in(LSR) & LSR_OE) != 0);
        CHECK(u.in(IIR) == (0xc0 | IIR_RDI));
        u.out(FCR, FCR_ENABLE | FCR_CLEAR_RCVR);
        (void)u.drain();
        CHECK(u.irq->level);
        CHECK(u.in(IIR) == (0xc0 | IIR_THRI));
        CHECK(u.in(IIR) == (0xc0 | IIR_NO_INT));
        CHECK_FALSE(u.irq->level);
        // Modem status: toggling loopback changes the modem inputs.
        u.out(MCR, MCR_OUT2 | MCR_LOOP);
        u.out(MCR, MCR_OUT2);
        CHECK(u.irq->level);
        CHECK(u.in(IIR) == (0xc0 | IIR_MSI));
        const uint8_t msr = u.in(MSR);
        CHECK((msr & (MSR_DCTS | MSR_DDSR)) != 0);
        CHECK(u.in(IIR) == (0xc0 | IIR_NO_INT));
        CHECK_FALSE(u.irq->level);
    }
}

TEST_CASE("serial: loopback", "[unit][serial]")
{
    Uart u;
    u.out(FCR, FCR_ENABLE);
    u.out(IER, IER_RDI);
    u.out(MCR, MCR_LOOP | MCR_OUT2);
    u.receive("host"); // the serial input is disconnected in loopback: these wait
    u.out(TX, 'L');
    u.out(TX, 'B');
    CHECK(u.output->text.empty());
    CHECK((u.in(IIR) & 0x0f) == IIR_RDI); // trigger level 1
    CHECK_FALSE(u.irq->level); // loopback forces the OUT2 pin inactive
    CHECK(u.drain() == "LB");

    // MSR follows MCR: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD.
    (void)u.in(MSR);
    u.out(MCR, MCR_LOOP | MCR_DTR);
    CHECK(u.in(MSR) == (MSR_DSR | MSR_DDSR | MSR_DDCD));
    u.out(MCR, MCR_LOOP | MCR_RTS | MCR_OUT1);
    CHECK(u.in(MSR) == (MSR_CTS | MSR_RI | MSR_DCTS | MSR_DDSR));
    u.out(MCR, MCR_LOOP);
    CHECK(u.in(MSR) == (MSR_TERI | MSR_DCTS)); // RI's trailing edge

    // Leaving loopback: carrier back on, and the host bytes arrive.
    u.out(MCR, MCR_OUT2);
    CHECK((u.in(MSR) & 0xf0) == (MSR_DCD | MSR_DSR | MSR_CTS));
    CHECK(u.irq->level);
    CHECK(u.drain() == "host");
    CHECK_FALSE(u.irq->level);
}

TEST_CASE("serial: overrun in loopback", "[unit][serial]")
{
    Uart u;
    u.out(IER, IER_RLSI);
    u.out(MCR, MCR_LOOP);
    SECTION("FIFO mode keeps the first 64 bytes")
    {
        u.out(FCR, FCR_ENABLE);
        for (size_t i = 0; i < devices::Serial8250::kFifoSize + 1; ++i) {
            u.out(TX, static_cast<uint8_t>(i));
        }
        CHECK(u.in(IIR) == (0xc0 | IIR_RLSI));
        CHECK(u.in(LSR) == (LSR_DR | LSR_OE | LSR_THRE | LSR_TEMT));
        CHECK(u.in(LSR) == (LSR_DR | LSR_THRE | LSR_TEMT));
        CHECK(u.in(IIR) == (0xc0 | IIR_NO_INT));
        std::string expected;
        for (size_t i = 0; i < devices::Serial8250::kFifoSize; ++i) {
            expected.push_back(static_cast<char>(i));
        }
        CHECK(u.drain() == expected);
    }
    SECTION("16450 mode: the new byte overwrites the unread one")
    {
        u.out(TX, 'a');
        u.out(TX, 'b');
        CHECK(u.in(IIR) == IIR_RLSI);
        CHECK((u.in(LSR) & LSR_OE) != 0);
        CHECK(u.drain() == "b");
    }
}

TEST_CASE("serial: through the PIO bus at COM1", "[unit][serial]")
{
    auto irq = std::make_shared<RecordingIrq>();
    auto output = std::make_shared<CapturedOutput>();
    devices::Bus bus("pio");
    bus.add(arch::kCom1Port, devices::Serial8250::kPortCount, std::make_shared<devices::Serial8250>(irq, *output),
            "com1");
    const std::array<uint8_t, 1> byte{'Z'};
    CHECK(bus.write(arch::kCom1Port, byte));
    std::array<uint8_t, 1> lsr{};
    CHECK(bus.read(arch::kCom1Port + LSR, lsr));
    CHECK((lsr[0] & LSR_THRE) != 0);
    CHECK(output->text == "Z");
}
