// libFuzzer target: the split virtqueue and descriptor chains alone (no device, no transport;
// the rust-vmm virtio-queue target's idea), on guest RAM laid out as minivmm lays it out:
// small RAM whose last bytes hold rings and tables, and RAM on both sides of the MMIO hole
// (a low region ending at 3 GiB and a 64 KiB region from 4 GiB). The input:
//   layout:u8 size_log:u8 features:u8   RAM layout (% 3), queue size 2^(size_log % 9), bit 0
//                                       EVENT_IDX, bit 1 INDIRECT_DESC
//   3 x (edge:u8 off:u16)               descriptor table, avail ring, used ring addresses
// then a program:
//   0 edge:u8 off:u16 n:u8 bytes[n]     write guest RAM at an address near an edge
//   1 edge:u8 off:u16 count:u16 d:desc  fill a table: `count % 1025` copies of d, entry i's
//                                       next = i + 1 (written whole, if it fits in RAM)
//   2 head:u16 count:u16                offer `head` `count` times (avail ring, then avail.idx)
//   3 n:u8                              pop up to n chains (recycling storage), use each
//   4 head:u16 len:u32                  add_used of an arbitrary head
//   5                                   needs_notification, rearm_notifications
//   6                                   reset and set the queue up again
// Edges: 0, the end of the low region, the start and end of the high region (or of RAM).
// Checked on every chain: at most queue-size buffers, each non-empty and inside RAM, lengths
// that add up, a buffer list of at most queue-size x 16 bytes. ASan/UBSan see the rest.
#include "arch/x86_64/guest_ram.hpp"
#include "devices/virtio/virtqueue.hpp"
#include "fuzz_support.hpp"

#include <array>
#include <optional>
#include <vector>

using namespace minivmm;

namespace {

struct Layout {
    uint64_t ram;
};
// 1 MiB; 3 GiB + 64 KiB (a region above the hole); 16 MiB.
constexpr std::array<Layout, 3> kLayouts{{{1ULL << 20}, {(3ULL << 30) + (64 << 10)}, {16ULL << 20}}};

struct Edges {
    std::vector<uint64_t> points;
    explicit Edges(const memory::GuestMemory& memory)
    {
        points.push_back(0);
        for (const auto& region : memory.regions()) {
            points.push_back(region.base.value());
            points.push_back(region.end());
        }
    }
    // An address near an edge: below it for odd offsets, above for even ones.
    [[nodiscard]] memory::GuestAddress near(uint8_t edge, uint16_t offset) const
    {
        const uint64_t at = points[edge % points.size()];
        const uint64_t delta = offset >> 1;
        return memory::GuestAddress{(offset & 1) != 0 ? at - delta : at + delta};
    }
};

[[noreturn]] void violated() { __builtin_trap(); }

void check_chain(const virtio::DescriptorChain& chain, const memory::GuestMemory& memory, uint16_t queue_size)
{
    const auto buffers = chain.buffers();
    // descriptor_chain.hpp: at most queue_size buffers, queue_size x 16 bytes of list.
    if (buffers.size() > queue_size || chain.storage_bytes() > uint64_t{queue_size} * 16) {
        violated();
    }
    uint64_t total = 0;
    for (const auto& buffer : buffers) {
        if (buffer.len == 0 || !memory.contains(buffer.addr, buffer.len)) {
            violated();
        }
        total += buffer.len;
    }
    if (total != chain.total_len() || chain.head() >= queue_size) {
        violated();
    }
}

void set_up(virtio::VirtQueue& queue, uint16_t size, uint8_t features, const std::array<memory::GuestAddress, 3>& rings)
{
    (void)queue.set_size(size);
    queue.set_desc_addr(rings[0]);
    queue.set_avail_addr(rings[1]);
    queue.set_used_addr(rings[2]);
    queue.set_event_idx((features & 1) != 0);
    queue.set_indirect_desc((features & 2) != 0);
    queue.set_ready(true);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    fuzz::silence_logs();
    fuzz::Input in(data, size);
    const Layout& layout = kLayouts[in.take<uint8_t>() % kLayouts.size()];
    const auto queue_size = static_cast<uint16_t>(1U << (in.take<uint8_t>() % 9));
    const uint8_t features = in.take<uint8_t>();
    // One RAM per layout for the process (mapping and unmapping 3 GiB per input costs more
    // than the input), all zeros again for each input.
    static std::array<std::optional<memory::GuestMemory>, kLayouts.size()> rams;
    auto& ram = rams[static_cast<std::size_t>(&layout - kLayouts.data())];
    if (!ram) {
        ram.emplace(arch::create_guest_ram(layout.ram));
    }
    memory::GuestMemory& memory = *ram;
    memory.discard_contents();
    const Edges edges(memory);
    std::array<memory::GuestAddress, 3> rings{};
    for (auto& ring : rings) {
        const auto edge = in.take<uint8_t>();
        ring = edges.near(edge, in.take<uint16_t>());
    }
    virtio::VirtQueue queue(memory, 256);
    set_up(queue, queue_size, features, rings);
    if (!queue.validate()) {
        return 0; // the transport refuses DRIVER_OK with these rings
    }
    std::vector<virtio::DescriptorBuffer> storage;
    uint16_t avail_idx = 0;
    for (int steps = 0; !in.empty() && steps < 64; ++steps) {
        switch (in.take<uint8_t>() % 7) {
        case 0: {
            const auto edge = in.take<uint8_t>();
            const auto at = edges.near(edge, in.take<uint16_t>());
            (void)memory.try_write(at, std::as_bytes(in.bytes(in.take<uint8_t>())));
            break;
        }
        case 1: {
            const auto edge = in.take<uint8_t>();
            const auto at = edges.near(edge, in.take<uint16_t>());
            // Up to 1024 entries: enough for a table longer than any queue (256 here).
            const auto count = static_cast<uint16_t>(in.take<uint16_t>() % 1025);
            const auto desc = in.take<virtio::VirtqDesc>();
            std::vector<virtio::VirtqDesc> table(count, desc);
            for (uint16_t i = 0; i < count; ++i) {
                table[i].next = static_cast<uint16_t>(i + 1);
            }
            (void)memory.try_write(at, std::as_bytes(std::span(table))); // whole, or not at all
            break;
        }
        case 2: {
            const auto head = in.take<uint16_t>();
            const auto count = std::min<uint16_t>(in.take<uint16_t>(), 512);
            for (uint16_t i = 0; i < count; ++i) {
                (void)memory.try_write_obj(
                    memory::GuestAddress{rings[1].value() + 4 + static_cast<uint64_t>(avail_idx % queue_size) * 2}, head);
                ++avail_idx;
            }
            (void)memory.try_write_obj(memory::GuestAddress{rings[1].value() + 2}, avail_idx);
            break;
        }
        case 3: {
            const unsigned n = in.take<uint8_t>();
            for (unsigned i = 0; i < n; ++i) {
                auto chain = queue.pop(storage);
                if (!chain) {
                    break;
                }
                check_chain(*chain, memory, queue_size);
                const uint16_t head = chain->head();
                const uint32_t len = chain->total_len();
                storage = std::move(*chain).take_storage();
                if (queue.add_used(head, len)) {
                    break;
                }
            }
            break;
        }
        case 4: {
            const auto head = in.take<uint16_t>();
            (void)queue.add_used(head, in.take<uint32_t>());
            break;
        }
        case 5:
            (void)queue.needs_notification();
            (void)queue.rearm_notifications();
            break;
        default:
            queue.reset();
            avail_idx = 0;
            set_up(queue, queue_size, features, rings);
            break;
        }
        if (storage.capacity() > queue_size) {
            violated(); // recycled storage grows only as far as the longest chain
        }
    }
    return 0;
}
