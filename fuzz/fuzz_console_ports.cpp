// libFuzzer target: the multiport virtio-console (devices/virtio/multiport_console.hpp)
// behind the virtio-mmio transport, three ports on host socket pairs, against a hostile
// driver and a host that writes, reads and hangs up. The input is a little program:
//   1 off:u16 v:u32            register write (offset & 0x1ff)
//   2 off:u16                  register read
//   3 addr:u32 n:u8 bytes[n]   write guest RAM (addr wrapped into RAM)
//   4 q:u8                     QueueNotify q % 8, and the I/O thread's part
//   5 f:u64                    handshake with features f|VERSION_1, every queue set up
//   6                          run the ready fd handlers (the ports' streams)
//   7 p:u8 n:u8 bytes[n]       the host writes to port p % 3
//   8 p:u8                     the host reads what port p % 3 has
//   9 p:u8                     the host closes its end of port p % 3
//  10 q:u8 len:u16 w:u8 n:u8 bytes[n]   post a one-buffer chain on queue q % 8 (writable if
//                              w & 1) holding bytes, and notify: control messages that way
// The VMM must never crash, hang, leak or touch memory outside RAM (ASan/UBSan), and holds
// at most what multiport_console.hpp says.
#include "backends/stream/socket_stream.hpp"
#include "devices/virtio/multiport_console.hpp"
#include "fuzz_support.hpp"
#include "support/virtio_mmio_driver.hpp"

#include <sys/socket.h>

#include <array>

using namespace minivmm;

namespace {

constexpr uint64_t kRam = 4ULL << 20;
constexpr uint64_t kRingBase = 0x10000;
constexpr uint64_t kBuffers = 0x100000;
constexpr size_t kPorts = 3;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    fuzz::silence_logs();
    fuzz::Input in(data, size);
    std::array<util::UniqueFd, kPorts> host;
    test::MmioDriver driver(
        [&](memory::GuestMemory& memory) -> std::unique_ptr<virtio::VirtioDevice> {
            std::vector<virtio::MultiportConsole::Port> ports;
            for (size_t i = 0; i < kPorts; ++i) {
                int pair[2];
                if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
                    std::abort();
                }
                host[i] = util::UniqueFd(pair[0]);
                ports.push_back({"port" + std::to_string(i),
                                 std::make_unique<backends::SocketStream>(util::UniqueFd(pair[1]))});
            }
            return std::make_unique<virtio::MultiportConsole>(memory, std::move(ports));
        },
        kRam, kRingBase);
    std::array<uint16_t, 8> next{};
    for (int steps = 0; !in.empty() && steps < 256; ++steps) {
        switch (in.take<uint8_t>() % 11) {
        case 1: {
            const auto offset = in.take<uint16_t>();
            driver.set(offset & 0x1ff, in.take<uint32_t>());
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
            driver.kick(in.take<uint8_t>() % 8);
            break;
        case 5:
            driver.handshake(in.take<uint64_t>());
            break;
        case 6:
            driver.poller.run_ready();
            break;
        case 7: {
            const size_t port = in.take<uint8_t>() % kPorts;
            const auto bytes = in.bytes(in.take<uint8_t>());
            if (host[port]) {
                (void)::send(host[port].get(), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
            }
            driver.poller.run_ready();
            break;
        }
        case 8: {
            const size_t port = in.take<uint8_t>() % kPorts;
            std::array<uint8_t, 4096> buffer{};
            while (host[port] && ::recv(host[port].get(), buffer.data(), buffer.size(), MSG_DONTWAIT) > 0) {
            }
            driver.poller.run_ready();
            break;
        }
        case 9:
            host[in.take<uint8_t>() % kPorts].reset();
            driver.poller.run_ready();
            break;
        case 10: {
            const uint32_t q = in.take<uint8_t>() % 8;
            const uint16_t len = in.take<uint16_t>() % 0x2000;
            const bool writable = (in.take<uint8_t>() & 1) != 0;
            const auto bytes = in.bytes(in.take<uint8_t>());
            if (driver.sizes.count(q) == 0 || driver.sizes[q] == 0) {
                break;
            }
            const uint16_t d = next[q]++ % driver.sizes[q];
            const uint64_t addr = kBuffers + (q * 16ULL + d) * 0x2000;
            (void)driver.memory.try_write(memory::GuestAddress{addr}, std::as_bytes(bytes));
            driver.desc(q, d, addr, len, writable ? 2 : 0);
            driver.offer(q, d);
            driver.kick(q);
            break;
        }
        default:
            break;
        }
    }
    (void)driver.transport.quiesce(); // nothing to flush: the console holds no host data
    return 0;
}
