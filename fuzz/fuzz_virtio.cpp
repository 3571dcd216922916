// libFuzzer target: arbitrary guest memory contents and register accesses against the
// virtio-mmio transport with each device model behind it (the rust-vmm virtio-queue fuzz
// target's idea). The input is a little program for a hostile driver:
//   0 dev            choose the device (0 console, 1 block, 2 net) - first byte only
//   1 off:u16 v:u32  register write (offset & 0x1ff)
//   2 off:u16        register read
//   3 addr:u32 n:u8 bytes[n]   write guest RAM (addr wrapped into RAM)
//   4 q:u8           QueueNotify + run the I/O thread's part
//   5 f:u64          full handshake with features f|VERSION_1, every queue at fixed rings
//   6                run ready fd handlers (block completions, console input, net back end)
//   7 n:u8 bytes[n]  console input from the host; for net a frame from the host (n = 0:
//                    the host drains what the device sent)
// The VMM must never crash, hang, leak or touch memory outside RAM (ASan/UBSan).
#include "devices/virtio/virtio_console.hpp"
#include "fuzz_block_device.hpp"
#include "fuzz_net_device.hpp"
#include "fuzz_support.hpp"
#include "support/virtio_mmio_driver.hpp"

using namespace minivmm;

namespace {

constexpr uint64_t kRam = 4ULL << 20;
constexpr uint64_t kRingBase = 0x10000;

void reg_write(test::MmioDriver& driver, uint64_t offset, uint32_t value) { driver.set(offset & 0x1ff, value); }

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    fuzz::silence_logs();
    fuzz::Input in(data, size);
    auto output = std::make_shared<fuzz::NullOutput>();
    virtio::VirtioConsole* console = nullptr;
    fuzz::BlockFixture block;
    fuzz::NetFixture net;
    const uint8_t kind = in.take<uint8_t>() % 3;
    // The rings of the handshake (op 5) at 0x10000 + q * 0x4000, where fuzz/make_corpus.py
    // writes its descriptors.
    test::MmioDriver driver(
        [&](memory::GuestMemory& memory) -> std::unique_ptr<virtio::VirtioDevice> {
            if (kind == 0) {
                auto c = std::make_unique<virtio::VirtioConsole>(memory, output, virtio::VirtioConsole::WindowSize{});
                console = c.get();
                return c;
            }
            return kind == 1 ? block.make(memory) : net.make(memory);
        },
        kRam, kRingBase);
    for (int steps = 0; !in.empty() && steps < 256; ++steps) {
        switch (in.take<uint8_t>() % 8) {
        case 1: {
            const auto offset = in.take<uint16_t>();
            reg_write(driver, offset, in.take<uint32_t>());
            break;
        }
        case 2:
            (void)driver.reg(in.take<uint16_t>() & 0x1ff);
            break;
        case 3: {
            const uint32_t addr = in.take<uint32_t>() % kRam;
            const auto bytes = in.bytes(in.take<uint8_t>());
            (void)driver.memory.try_write(memory::GuestAddress{addr}, std::as_bytes(bytes));
            break;
        }
        case 4:
            driver.kick(in.take<uint8_t>() % 4);
            break;
        case 5:
            driver.handshake(in.take<uint64_t>());
            break;
        case 6:
            driver.poller.run_ready();
            break;
        case 7: {
            const auto bytes = in.bytes(in.take<uint8_t>());
            if (console != nullptr && console->can_receive()) {
                console->receive(bytes);
            } else if (kind == 2) {
                net.host(bytes);
            }
            driver.poller.run_ready();
            break;
        }
        default:
            break;
        }
    }
    (void)driver.transport.quiesce();
    return 0;
}
