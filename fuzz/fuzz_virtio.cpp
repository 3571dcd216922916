// libFuzzer target: arbitrary guest memory contents and register accesses against the
// virtio-mmio transport with each device model behind it (the rust-vmm virtio-queue fuzz
// target's idea). The input is a little program for a hostile driver:
//   0 dev            choose the device (0 console, 1 block, 2 net, 3 block on io_uring,
//                    4 rng; larger values % 4) - first byte only
//   1 off:u16 v:u32  register write (offset & 0x1ff)
//   2 off:u16        register read
//   3 addr:u32 n:u8 bytes[n]   write guest RAM (addr wrapped into RAM)
//   4 q:u8           QueueNotify + run the I/O thread's part
//   5 f:u64          full handshake with features f|VERSION_1, every queue at fixed rings
//   6                run ready fd handlers (block completions, console input, net back end)
//   7 n:u8 bytes[n]  console input from the host; for net a frame from the host (n = 0:
//                    the host drains what the device sent); for rng, the host's entropy
//                    source fails from now on (n odd) or works again (n even)
//   8 addr:u32 count:u16 desc   fill a table: `count` copies of a 16-byte descriptor, entry
//                    i's next = i + 1 (a long indirect table in 23 bytes; 4096 entries per
//                    input in all)
//   9 q:u8 head:u16 count:u16   offer `head` `count` times on queue q (avail ring + idx)
//  10 len:u32 byte:u8          net: a frame of len % 128 KiB bytes from the host (over the
//                    largest frame a driver must take, 65562, too)
// The VMM must never crash, hang, leak or touch memory outside RAM (ASan/UBSan), and what a
// device holds stays under its kMaxBytesHeld after every step (checked here; issue 13's
// 5.4 GiB NIC took a 1 MiB table of empty buffers offered in every slot).
#include "devices/virtio/virtio_console.hpp"
#include "fuzz_block_device.hpp"
#include "fuzz_net_device.hpp"
#include "fuzz_rng_device.hpp"
#include "fuzz_support.hpp"
#include "support/virtio_mmio_driver.hpp"

#include <algorithm>
#include <array>
#include <span>
#include <cstdint>
#include <vector>

using namespace minivmm;

namespace {

constexpr uint64_t kRam = 4ULL << 20;
constexpr uint64_t kRingBase = 0x10000;
// Descriptor entries op 8 writes per input. Any table longer than a queue (256 entries here)
// is refused whole, so 4096 entries reach what issue 13's 65535 did; the unit tests keep the
// exact shape (test_virtio_net_bounds.cpp).
constexpr uint32_t kFillBudget = 4096;

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
    fuzz::RngFixture rng;
    const auto first = in.take<uint8_t>();
    const uint8_t kind = first <= 4 ? first : first % 4; // 4 (rng) was added last: the corpus keeps its devices
    // The rings of the handshake (op 5) at 0x10000 + q * 0x4000, where fuzz/make_corpus.py
    // writes its descriptors.
    test::MmioDriver driver(
        [&](memory::GuestMemory& memory) -> std::unique_ptr<virtio::VirtioDevice> {
            if (kind == 0) {
                auto c = std::make_unique<virtio::VirtioConsole>(memory, output, virtio::VirtioConsole::WindowSize{});
                console = c.get();
                return c;
            }
            if (kind == 4) {
                return rng.make(memory);
            }
            return kind == 2 ? net.make(memory) : block.make(memory, kind == 3);
        },
        kRam, kRingBase);
    std::uint16_t avail_idx[2] = {0, 0};
    uint32_t fill_budget = kFillBudget;
    for (int steps = 0; !in.empty() && steps < 256; ++steps) {
        switch (in.take<uint8_t>() % 11) {
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
            block.settle(driver.poller);
            driver.poller.run_ready();
            break;
        case 7: {
            const auto bytes = in.bytes(in.take<uint8_t>());
            if (console != nullptr && console->can_receive()) {
                console->receive(bytes);
            } else if (kind == 2) {
                net.host(bytes);
            } else if (kind == 4) {
                rng.fail(bytes.size() % 2 == 1);
            }
            driver.poller.run_ready();
            break;
        }
        case 8: {
            const uint32_t addr = in.take<uint32_t>() % kRam;
            // kFillBudget entries in all per input (building them is most of a slow input).
            const auto count = std::min<uint32_t>(in.take<uint16_t>(), fill_budget);
            fill_budget -= count;
            const auto desc = in.take<test::MmioDriver::virtio_desc>();
            static std::vector<test::MmioDriver::virtio_desc> table; // reused: no allocation per op
            table.assign(count, desc);
            for (uint32_t i = 0; i < count; ++i) {
                table[i].next = static_cast<uint16_t>(i + 1);
            }
            // Whole, or as much as fits before the end of RAM.
            const auto bytes = std::as_bytes(std::span(table));
            (void)driver.memory.try_write(memory::GuestAddress{addr}, bytes.first(std::min<uint64_t>(bytes.size(), kRam - addr)));
            break;
        }
        case 9: {
            const unsigned q = in.take<uint8_t>() % 2;
            const auto head = in.take<uint16_t>();
            const auto count = std::min<uint16_t>(in.take<uint16_t>(), 4096);
            const uint64_t avail = test::MmioDriver::ring_addr(q, kRingBase) + 0x1000;
            // Every slot the offers pass through holds `head` afterwards: one write of the ring
            // (256 slots, the largest queue here) stands for `count` single offers.
            const std::array<uint16_t, 256> ring = [&] {
                std::array<uint16_t, 256> r{};
                r.fill(head);
                return r;
            }();
            const auto slots = std::min<uint16_t>(count, 256);
            for (uint16_t done = 0; done < slots;) {
                const uint16_t at = static_cast<uint16_t>((avail_idx[q] + done) % 256);
                const uint16_t run = std::min<uint16_t>(static_cast<uint16_t>(slots - done), static_cast<uint16_t>(256 - at));
                (void)driver.memory.try_write(memory::GuestAddress{avail + 4 + at * 2ULL},
                                              std::as_bytes(std::span(ring).first(run)));
                done = static_cast<uint16_t>(done + run);
            }
            avail_idx[q] = static_cast<uint16_t>(avail_idx[q] + count);
            (void)driver.memory.try_write_obj(memory::GuestAddress{avail + 2}, avail_idx[q]);
            break;
        }
        case 10: {
            const uint32_t len = in.take<uint32_t>() % (128 * 1024);
            static std::vector<uint8_t> frame; // reused: no allocation per op
            frame.assign(len, in.take<uint8_t>());
            if (kind == 2 && len > 0) {
                net.host(frame);
                driver.poller.run_ready();
            }
            break;
        }
        default:
            break;
        }
        if ((steps % 16 == 0 || in.empty()) && (!block.within_bound() || !net.within_bound())) {
            __builtin_trap(); // a device holds more host memory than its header says it can
        }
    }
    if (!block.within_bound() || !net.within_bound()) {
        __builtin_trap();
    }
    (void)driver.transport.quiesce();
    return 0;
}
