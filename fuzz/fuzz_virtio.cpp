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
#include "util/fd_poller.hpp"
#include "arch/x86_64/guest_ram.hpp"
#include "devices/interrupt_trigger.hpp"
#include "devices/virtio/virtio_console.hpp"
#include "devices/virtio/mmio_registers.hpp"
#include "devices/virtio/mmio_transport.hpp"
#include "fuzz_block_device.hpp"
#include "fuzz_net_device.hpp"

#include <spdlog/spdlog.h>

#include <poll.h>

#include <cstring>
#include <map>

using namespace minivmm;

namespace {

constexpr uint64_t kRam = 4ULL << 20;

class Input {
public:
    Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
    [[nodiscard]] bool empty() const { return pos_ >= size_; }
    template <typename T>
    T take()
    {
        T value{};
        const size_t n = std::min(sizeof(T), size_ - std::min(size_, pos_));
        std::memcpy(&value, data_ + pos_, n);
        pos_ += sizeof(T);
        return value;
    }
    std::span<const uint8_t> bytes(size_t n)
    {
        const size_t start = std::min(pos_, size_);
        const size_t len = std::min(n, size_ - start);
        pos_ += n;
        return {data_ + start, len};
    }

private:
    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
};

// Level-triggered like epoll: a handler runs when its fd is ready for the events it
// watches, or has an error or hang-up.
class Poller final : public util::FdPoller {
public:
    bool add(int fd, uint32_t events, Handler handler) override
    {
        watches_[fd] = Watch{events, std::move(handler)};
        return true;
    }
    bool modify(int fd, uint32_t events) override
    {
        const auto it = watches_.find(fd);
        if (it == watches_.end()) {
            return false;
        }
        it->second.events = events;
        return true;
    }
    void remove(int fd) override { watches_.erase(fd); }
    void run_ready()
    {
        auto copy = watches_;
        for (auto& [fd, watch] : copy) {
            pollfd p{fd, static_cast<short>(watch.events & (POLLIN | POLLOUT)), 0};
            if (::poll(&p, 1, 0) == 1 && p.revents != 0) {
                watch.handler(static_cast<uint32_t>(p.revents));
            }
        }
    }

private:
    struct Watch {
        uint32_t events = 0;
        Handler handler;
    };
    std::map<int, Watch> watches_;
};

struct NullTrigger final : devices::InterruptTrigger {
    void trigger() override {}
};

struct NullOutput final : devices::ConsoleOutput {
    void write(std::span<const uint8_t>) override {}
};

void reg_write(virtio::MmioTransport& t, uint64_t offset, uint32_t value)
{
    std::array<uint8_t, 4> bytes{};
    std::memcpy(bytes.data(), &value, 4);
    t.write(offset, bytes);
}

void handshake(virtio::MmioTransport& t, uint64_t features)
{
    using namespace virtio::mmio;
    features |= virtio::kFVersion1;
    reg_write(t, kStatus, 0);
    reg_write(t, kStatus, kStatusAcknowledge | kStatusDriver);
    reg_write(t, kDriverFeaturesSel, 0);
    reg_write(t, kDriverFeatures, static_cast<uint32_t>(features));
    reg_write(t, kDriverFeaturesSel, 1);
    reg_write(t, kDriverFeatures, static_cast<uint32_t>(features >> 32));
    reg_write(t, kStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
    for (uint32_t q = 0; q < t.queue_count(); ++q) {
        const uint32_t base = 0x10000 + q * 0x4000;
        reg_write(t, kQueueSel, q);
        reg_write(t, kQueueNum, 16);
        reg_write(t, kQueueDescLow, base);
        reg_write(t, kQueueDriverLow, base + 0x1000);
        reg_write(t, kQueueDeviceLow, base + 0x2000);
        reg_write(t, kQueueReady, 1);
    }
    reg_write(t, kStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    static const bool quiet = [] {
        spdlog::set_level(spdlog::level::off);
        return true;
    }();
    (void)quiet;
    Input in(data, size);
    memory::GuestMemory memory = arch::create_guest_ram(kRam);
    Poller poller;
    std::vector<unsigned> notified;
    auto output = std::make_shared<NullOutput>();
    virtio::VirtioConsole* console = nullptr;
    std::unique_ptr<virtio::VirtioDevice> device;
    fuzz::BlockFixture block;
    fuzz::NetFixture net;
    const uint8_t kind = in.take<uint8_t>() % 3;
    if (kind == 0) {
        auto c = std::make_unique<virtio::VirtioConsole>(memory, output, virtio::VirtioConsole::WindowSize{});
        console = c.get();
        device = std::move(c);
    } else {
        device = kind == 1 ? block.make(memory) : net.make(memory);
        if (!device) {
            return 0;
        }
    }
    virtio::MmioTransport transport(memory, std::move(device), std::make_shared<NullTrigger>(), poller,
                                    [&notified](unsigned q) { notified.push_back(q); });
    for (int steps = 0; !in.empty() && steps < 256; ++steps) {
        switch (in.take<uint8_t>() % 8) {
        case 1: {
            const auto offset = in.take<uint16_t>() & 0x1ff;
            reg_write(transport, offset, in.take<uint32_t>());
            break;
        }
        case 2: {
            std::array<uint8_t, 4> bytes{};
            transport.read(in.take<uint16_t>() & 0x1ff, bytes);
            break;
        }
        case 3: {
            const uint32_t addr = in.take<uint32_t>() % kRam;
            const auto bytes = in.bytes(in.take<uint8_t>());
            (void)memory.try_write(memory::GuestAddress{addr}, std::as_bytes(bytes));
            break;
        }
        case 4:
            reg_write(transport, virtio::mmio::kQueueNotify, in.take<uint8_t>() % 4);
            for (const unsigned q : notified) {
                transport.process_notify(q);
            }
            notified.clear();
            poller.run_ready();
            break;
        case 5:
            handshake(transport, in.take<uint64_t>());
            break;
        case 6:
            poller.run_ready();
            break;
        case 7: {
            const auto bytes = in.bytes(in.take<uint8_t>());
            if (console != nullptr && console->can_receive()) {
                console->receive(bytes);
            } else if (kind == 2) {
                net.host(bytes);
            }
            poller.run_ready();
            break;
        }
        default:
            break;
        }
    }
    transport.quiesce();
    return 0;
}
