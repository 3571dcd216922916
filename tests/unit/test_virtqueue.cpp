// Split virtqueue (virtio 1.2 section 2.7) driven by a tiny mock driver on heap-backed RAM.
#include "devices/virtio/virtqueue.hpp"
#include "arch/x86_64/guest_ram.hpp"

#include <minivmm/vm_config.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <limits>

using namespace minivmm;

namespace {

constexpr memory::GuestAddress kDesc{0x1000};
constexpr memory::GuestAddress kAvail{0x2000};
constexpr memory::GuestAddress kUsed{0x3000};
constexpr memory::GuestAddress kIndirect{0x4000};
constexpr uint16_t kSize = 8;

// Plays the driver's part: writes descriptors and avail entries as a guest would.
struct MockDriver {
    memory::GuestMemory memory = arch::create_guest_ram(16 * kMiB);
    virtio::VirtQueue queue{memory, 256};
    uint16_t avail_idx = 0;

    MockDriver(bool indirect = false, bool event_idx = false)
    {
        REQUIRE(queue.set_size(kSize));
        queue.set_desc_addr(kDesc);
        queue.set_avail_addr(kAvail);
        queue.set_used_addr(kUsed);
        queue.set_indirect_desc(indirect);
        queue.set_event_idx(event_idx);
        queue.set_ready(true);
        REQUIRE(queue.validate());
    }
    void desc(memory::GuestAddress table, uint16_t index, uint64_t addr, uint32_t len, uint16_t flags,
              uint16_t next = 0)
    {
        memory.write_obj(table + uint64_t{index} * 16, virtio::VirtqDesc{addr, len, flags, next});
    }
    void desc(uint16_t index, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next = 0)
    {
        desc(kDesc, index, addr, len, flags, next);
    }
    void offer(uint16_t head)
    {
        memory.write_obj(kAvail + 4 + static_cast<uint64_t>(avail_idx % kSize) * 2, head);
        ++avail_idx;
        memory.write_obj(kAvail + 2, avail_idx);
    }
    void set_avail_idx(uint16_t idx) { memory.write_obj(kAvail + 2, idx); }
    void set_avail_flags(uint16_t flags) { memory.write_obj(kAvail, flags); }
    void set_used_event(uint16_t idx) { memory.write_obj(kAvail + 4 + uint64_t{kSize} * 2, idx); }
    uint16_t used_idx() const { return memory.read_obj<uint16_t>(kUsed + 2); }

    std::optional<virtio::QueueError> pop_error()
    {
        CHECK_FALSE(queue.pop().has_value());
        return queue.error();
    }
};

} // namespace

TEST_CASE("virtqueue transport state is checked", "[unit][virtqueue]")
{
    auto memory = arch::create_guest_ram(16 * kMiB);
    virtio::VirtQueue queue(memory, 256);
    CHECK(queue.max_size() == 256);
    CHECK_FALSE(queue.set_size(0));
    CHECK_FALSE(queue.set_size(3));
    CHECK_FALSE(queue.set_size(512));
    CHECK(queue.set_size(128));
    CHECK(queue.size() == 128);
    CHECK(virtio::VirtQueue(memory, 0).max_size() == 1);
    CHECK(virtio::VirtQueue(memory, 32768).max_size() == 32768);

    queue.set_desc_addr(kDesc);
    queue.set_avail_addr(kAvail);
    queue.set_used_addr(kUsed);
    CHECK(queue.validate());
    queue.set_desc_addr(memory::GuestAddress(0x1008));
    CHECK_FALSE(queue.validate()); // desc needs 16-byte alignment
    queue.set_desc_addr(kDesc);
    queue.set_avail_addr(memory::GuestAddress(0x2001));
    CHECK_FALSE(queue.validate());
    queue.set_avail_addr(kAvail);
    queue.set_used_addr(memory::GuestAddress(0x3002));
    CHECK_FALSE(queue.validate());
    queue.set_used_addr(memory::GuestAddress(16 * kMiB - 8)); // aligned but runs past RAM
    CHECK_FALSE(queue.validate());
    queue.set_used_addr(kUsed);
    queue.set_desc_addr(memory::GuestAddress(std::numeric_limits<uint64_t>::max() - 15));
    CHECK_FALSE(queue.validate());
}

TEST_CASE("virtqueue pops well-formed chains", "[unit][virtqueue]")
{
    SECTION("empty queue")
    {
        MockDriver d;
        CHECK_FALSE(d.queue.pop().has_value());
        CHECK_FALSE(d.queue.error().has_value());
    }
    SECTION("direct single buffer")
    {
        MockDriver d;
        d.desc(3, 0x10000, 512, 0);
        d.offer(3);
        auto chain = d.queue.pop();
        REQUIRE(chain);
        CHECK(chain->head() == 3);
        REQUIRE(chain->buffers().size() == 1);
        CHECK(chain->buffers()[0].addr == memory::GuestAddress(0x10000));
        CHECK(chain->buffers()[0].len == 512);
        CHECK_FALSE(chain->buffers()[0].device_writable);
        CHECK_FALSE(d.queue.pop().has_value());
        CHECK(d.queue.next_avail() == 1);
    }
    SECTION("chained read then write")
    {
        MockDriver d;
        d.desc(0, 0x10000, 16, virtio::kVirtqDescFNext, 5);
        d.desc(5, 0x11000, 4096, virtio::kVirtqDescFNext | virtio::kVirtqDescFWrite, 2);
        d.desc(2, 0x12000, 1, virtio::kVirtqDescFWrite);
        d.offer(0);
        auto chain = d.queue.pop();
        REQUIRE(chain);
        REQUIRE(chain->buffers().size() == 3);
        CHECK_FALSE(chain->buffers()[0].device_writable);
        CHECK(chain->buffers()[1].device_writable);
        CHECK(chain->buffers()[2].addr == memory::GuestAddress(0x12000));
        CHECK(chain->total_len() == 16 + 4096 + 1);
    }
    SECTION("indirect table")
    {
        MockDriver d(true);
        d.desc(kIndirect, 0, 0x10000, 64, virtio::kVirtqDescFNext, 1);
        d.desc(kIndirect, 1, 0x11000, 128, virtio::kVirtqDescFWrite);
        d.desc(1, kIndirect.value(), 2 * 16, virtio::kVirtqDescFIndirect);
        d.offer(1);
        auto chain = d.queue.pop();
        REQUIRE(chain);
        CHECK(chain->head() == 1);
        REQUIRE(chain->buffers().size() == 2);
        CHECK(chain->buffers()[0].addr == memory::GuestAddress(0x10000));
        CHECK(chain->buffers()[1].device_writable);
        CHECK(chain->total_len() == 192);
    }
    SECTION("chain as long as the queue")
    {
        MockDriver d;
        for (uint16_t i = 0; i < kSize; ++i) {
            d.desc(i, 0x10000, 1, i + 1 < kSize ? virtio::kVirtqDescFNext : 0, static_cast<uint16_t>(i + 1));
        }
        d.offer(0);
        auto chain = d.queue.pop();
        REQUIRE(chain);
        CHECK(chain->buffers().size() == kSize);
    }
    SECTION("avail idx moving by exactly the queue size is allowed")
    {
        MockDriver d;
        d.desc(0, 0x10000, 1, 0);
        for (uint16_t i = 0; i < kSize; ++i) {
            d.offer(0);
        }
        for (uint16_t i = 0; i < kSize; ++i) {
            CHECK(d.queue.pop().has_value());
        }
        CHECK_FALSE(d.queue.pop().has_value());
        CHECK_FALSE(d.queue.error().has_value());
    }
}

TEST_CASE("virtqueue rejects malformed chains with a typed error", "[unit][virtqueue]")
{
    SECTION("head out of range")
    {
        MockDriver d;
        d.offer(kSize);
        CHECK(d.pop_error() == virtio::QueueError::HeadOutOfRange);
    }
    SECTION("next out of range")
    {
        MockDriver d;
        d.desc(0, 0x10000, 1, virtio::kVirtqDescFNext, kSize);
        d.offer(0);
        CHECK(d.pop_error() == virtio::QueueError::NextOutOfRange);
    }
    SECTION("loop")
    {
        MockDriver d;
        d.desc(0, 0x10000, 1, virtio::kVirtqDescFNext, 1);
        d.desc(1, 0x10000, 1, virtio::kVirtqDescFNext, 0);
        d.offer(0);
        CHECK(d.pop_error() == virtio::QueueError::ChainTooLong);
    }
    SECTION("self loop")
    {
        MockDriver d;
        d.desc(4, 0x10000, 1, virtio::kVirtqDescFNext, 4);
        d.offer(4);
        CHECK(d.pop_error() == virtio::QueueError::ChainTooLong);
    }
    SECTION("chain longer than the queue")
    {
        MockDriver d;
        for (uint16_t i = 0; i < kSize; ++i) {
            d.desc(i, 0x10000, 1, virtio::kVirtqDescFNext, static_cast<uint16_t>((i + 1) % kSize));
        }
        d.offer(0);
        CHECK(d.pop_error() == virtio::QueueError::ChainTooLong);
    }
    SECTION("buffer outside RAM")
    {
        MockDriver d;
        d.desc(0, 16 * kMiB - 8, 16, 0);
        d.offer(0);
        CHECK(d.pop_error() == virtio::QueueError::BufferOutsideMemory);
    }
    SECTION("buffer address wraps")
    {
        MockDriver d;
        d.desc(0, std::numeric_limits<uint64_t>::max() - 3, 16, 0);
        d.offer(0);
        CHECK(d.pop_error() == virtio::QueueError::BufferOutsideMemory);
    }
    SECTION("total length overflows u32")
    {
        // A chain has at most queue-size buffers, each inside the 16 MiB of RAM: a 256-entry
        // queue's longest chain of whole-RAM buffers reaches 256 * 16 MiB = 4 GiB.
        MockDriver big(true);
        const uint16_t entries = 256;
        REQUIRE(big.queue.set_size(entries));
        for (uint16_t i = 0; i < entries; ++i) {
            big.desc(kIndirect, i, 0, static_cast<uint32_t>(16 * kMiB), i + 1 < entries ? virtio::kVirtqDescFNext : 0,
                     static_cast<uint16_t>(i + 1));
        }
        big.desc(0, kIndirect.value(), uint32_t{entries} * 16, virtio::kVirtqDescFIndirect);
        big.offer(0);
        CHECK(big.pop_error() == virtio::QueueError::LengthOverflow);
    }
    SECTION("device-readable after device-writable")
    {
        MockDriver d;
        d.desc(0, 0x10000, 1, virtio::kVirtqDescFNext | virtio::kVirtqDescFWrite, 1);
        d.desc(1, 0x11000, 1, 0);
        d.offer(0);
        CHECK(d.pop_error() == virtio::QueueError::ReadAfterWrite);
    }
    SECTION("indirect not negotiated")
    {
        MockDriver d(false);
        d.desc(kIndirect, 0, 0x10000, 1, 0);
        d.desc(0, kIndirect.value(), 16, virtio::kVirtqDescFIndirect);
        d.offer(0);
        CHECK(d.pop_error() == virtio::QueueError::IndirectNotNegotiated);
    }
    SECTION("nested indirect")
    {
        MockDriver d(true);
        d.desc(kIndirect, 0, kIndirect.value() + 0x100, 16, virtio::kVirtqDescFIndirect);
        d.desc(0, kIndirect.value(), 16, virtio::kVirtqDescFIndirect);
        d.offer(0);
        CHECK(d.pop_error() == virtio::QueueError::NestedIndirect);
    }
    SECTION("indirect with next")
    {
        MockDriver d(true);
        d.desc(kIndirect, 0, 0x10000, 1, 0);
        d.desc(0, kIndirect.value(), 16, virtio::kVirtqDescFIndirect | virtio::kVirtqDescFNext, 1);
        d.offer(0);
        CHECK(d.pop_error() == virtio::QueueError::IndirectWithNext);
    }
    SECTION("bad indirect length")
    {
        MockDriver d(true);
        d.desc(0, kIndirect.value(), 24, virtio::kVirtqDescFIndirect);
        d.offer(0);
        CHECK(d.pop_error() == virtio::QueueError::BadIndirectLength);
        MockDriver zero(true);
        zero.desc(0, kIndirect.value(), 0, virtio::kVirtqDescFIndirect);
        zero.offer(0);
        CHECK(zero.pop_error() == virtio::QueueError::BadIndirectLength);
    }
    SECTION("indirect table outside RAM")
    {
        MockDriver d(true);
        d.desc(0, 16 * kMiB - 16, 32, virtio::kVirtqDescFIndirect);
        d.offer(0);
        CHECK(d.pop_error() == virtio::QueueError::BufferOutsideMemory);
    }
    SECTION("indirect next out of range and loop")
    {
        MockDriver d(true);
        d.desc(kIndirect, 0, 0x10000, 1, virtio::kVirtqDescFNext, 2);
        d.desc(0, kIndirect.value(), 32, virtio::kVirtqDescFIndirect);
        d.offer(0);
        CHECK(d.pop_error() == virtio::QueueError::NextOutOfRange);
        MockDriver l(true);
        l.desc(kIndirect, 0, 0x10000, 1, virtio::kVirtqDescFNext, 1);
        l.desc(kIndirect, 1, 0x10000, 1, virtio::kVirtqDescFNext, 0);
        l.desc(0, kIndirect.value(), 32, virtio::kVirtqDescFIndirect);
        l.offer(0);
        CHECK(l.pop_error() == virtio::QueueError::ChainTooLong);
    }
    SECTION("avail idx jumps by more than the queue size")
    {
        MockDriver d;
        d.set_avail_idx(kSize + 1);
        CHECK(d.pop_error() == virtio::QueueError::AvailIdxJump);
        // The error is sticky until reset.
        d.set_avail_idx(0);
        CHECK(d.pop_error() == virtio::QueueError::AvailIdxJump);
        d.queue.reset();
        CHECK_FALSE(d.queue.error().has_value());
    }
    SECTION("every error has a message")
    {
        CHECK(virtio::to_string(virtio::QueueError::ReadAfterWrite) ==
              "device-readable descriptor after a device-writable one");
        CHECK_FALSE(virtio::to_string(virtio::QueueError::AvailIdxJump).empty());
    }
}

TEST_CASE("virtqueue writes the used ring", "[unit][virtqueue]")
{
    MockDriver d;
    d.desc(2, 0x10000, 64, virtio::kVirtqDescFWrite);
    d.offer(2);
    auto chain = d.queue.pop();
    REQUIRE(chain);
    CHECK_FALSE(d.queue.add_used(chain->head(), 42).has_value());
    CHECK(d.used_idx() == 1);
    CHECK(d.memory.read_obj<uint32_t>(kUsed + 4) == 2);
    CHECK(d.memory.read_obj<uint32_t>(kUsed + 8) == 42);
    CHECK(d.queue.add_used(kSize, 0) == virtio::QueueError::UsedHeadOutOfRange);
    CHECK(d.used_idx() == 1);

    // The ring wraps at the queue size while idx keeps counting.
    for (uint16_t i = 1; i <= kSize; ++i) {
        CHECK_FALSE(d.queue.add_used(i % kSize, i).has_value());
    }
    CHECK(d.used_idx() == kSize + 1);
    CHECK(d.memory.read_obj<uint32_t>(kUsed + 4) == 0);     // slot 0 rewritten by the 9th element
    CHECK(d.memory.read_obj<uint32_t>(kUsed + 8) == kSize); // its len
}

TEST_CASE("virtqueue publishes a batch of used elements with one idx update", "[unit][virtqueue]")
{
    MockDriver d;
    d.set_used_event(0);
    // Slots 6, 7, 0, 1: the batch wraps around the ring.
    for (uint16_t i = 0; i < 6; ++i) {
        CHECK_FALSE(d.queue.add_used(0, 0).has_value());
    }
    const std::array<virtio::UsedElement, 4> batch{{{3, 100}, {4, 200}, {5, 300}, {6, 7}}};
    CHECK_FALSE(d.queue.add_used(batch).has_value());
    CHECK(d.used_idx() == 10);
    CHECK(d.memory.read_obj<uint32_t>(kUsed + 4 + 6 * 8) == 3);
    CHECK(d.memory.read_obj<uint32_t>(kUsed + 4 + 7 * 8 + 4) == 200);
    CHECK(d.memory.read_obj<uint32_t>(kUsed + 4 + 0 * 8) == 5);
    CHECK(d.memory.read_obj<uint32_t>(kUsed + 4 + 1 * 8 + 4) == 7);

    // A bad head anywhere in the batch publishes nothing.
    const std::array<virtio::UsedElement, 2> bad{{{1, 1}, {kSize, 1}}};
    CHECK(d.queue.add_used(bad) == virtio::QueueError::UsedHeadOutOfRange);
    CHECK(d.used_idx() == 10);
}

TEST_CASE("virtqueue pops into recycled storage", "[unit][virtqueue]")
{
    MockDriver d;
    d.desc(0, 0x10000, 16, virtio::kVirtqDescFNext, 1);
    d.desc(1, 0x11000, 32, virtio::kVirtqDescFWrite);
    d.offer(0);
    d.desc(2, 0x12000, 8, 0);
    d.offer(2);

    std::vector<virtio::DescriptorBuffer> storage;
    storage.reserve(8);
    auto first = d.queue.pop(storage);
    REQUIRE(first);
    CHECK(first->buffers().size() == 2);
    CHECK(first->total_len() == 48);
    storage = std::move(*first).take_storage();
    CHECK(storage.capacity() >= 8); // the same allocation comes back
    const auto* data = storage.data();

    auto second = d.queue.pop(storage);
    REQUIRE(second);
    REQUIRE(second->buffers().size() == 1);
    CHECK(second->buffers()[0].addr == memory::GuestAddress(0x12000));
    CHECK(second->buffers().data() == data);

    storage = std::move(*second).take_storage();
    CHECK_FALSE(d.queue.pop(storage).has_value()); // empty: storage kept
    CHECK(storage.data() == data);
}

TEST_CASE("virtqueue chains are at most the queue size and empty buffers cost no storage",
          "[unit][virtqueue][bounds]")
{
    // An indirect table of `entries` one-byte buffers chained in order, named by descriptor
    // `head`; `lens` of 0 make them empty.
    const auto table = [](MockDriver& d, uint16_t entries, uint32_t len) {
        for (uint16_t i = 0; i < entries; ++i) {
            const bool last = i + 1 == entries;
            d.desc(kIndirect, i, 0x10000 + i, len, last ? 0 : virtio::kVirtqDescFNext, static_cast<uint16_t>(i + 1));
        }
    };
    SECTION("an indirect table of more entries than the queue size is a driver error")
    {
        // The chain itself is one buffer long; the table could still only hold an illegal one.
        MockDriver d(true);
        d.desc(kIndirect, 0, 0x10000, 1, 0);
        d.desc(0, kIndirect.value(), (kSize + 1) * 16, virtio::kVirtqDescFIndirect);
        d.offer(0);
        CHECK(d.pop_error() == virtio::QueueError::BadIndirectLength);
    }
    SECTION("direct and indirect descriptors together longer than the queue size")
    {
        MockDriver d(true);
        table(d, kSize, 1);
        d.desc(0, 0x20000, 1, virtio::kVirtqDescFNext, 1);
        d.desc(1, kIndirect.value(), kSize * 16, virtio::kVirtqDescFIndirect);
        d.offer(0);
        CHECK(d.pop_error() == virtio::QueueError::ChainTooLong);
    }
    SECTION("exactly the queue size, indirect entries included, is fine; its list is queue size x 16 bytes")
    {
        MockDriver d(true);
        table(d, kSize - 1, 1);
        d.desc(0, 0x20000, 1, virtio::kVirtqDescFNext, 1);
        d.desc(1, kIndirect.value(), (kSize - 1) * 16, virtio::kVirtqDescFIndirect);
        d.offer(0);
        auto chain = d.queue.pop();
        REQUIRE(chain);
        CHECK(chain->buffers().size() == kSize);
        CHECK(chain->storage_bytes() <= kSize * sizeof(virtio::DescriptorBuffer));
    }
    SECTION("zero-length descriptors are checked but not kept")
    {
        MockDriver d(true);
        table(d, kSize, 0);
        d.desc(kIndirect, kSize - 1, 0x30000, 16, virtio::kVirtqDescFWrite);
        d.desc(0, kIndirect.value(), kSize * 16, virtio::kVirtqDescFIndirect);
        d.offer(0);
        auto chain = d.queue.pop();
        REQUIRE(chain);
        REQUIRE(chain->buffers().size() == 1);
        CHECK(chain->buffers()[0].addr == memory::GuestAddress(0x30000));
        CHECK(chain->buffers()[0].device_writable);
        CHECK(chain->total_len() == 16);
        CHECK(chain->storage_bytes() == sizeof(virtio::DescriptorBuffer));
    }
    SECTION("an empty descriptor outside RAM is still refused")
    {
        MockDriver d;
        d.desc(0, 0x10000, 1, virtio::kVirtqDescFNext, 1);
        d.desc(1, std::numeric_limits<uint64_t>::max(), 0, 0);
        d.offer(0);
        CHECK(d.pop_error() == virtio::QueueError::BufferOutsideMemory);
    }
}

TEST_CASE("vring_need_event follows 2.7.10 with 16-bit wrap-around", "[unit][virtqueue]")
{
    // Interrupt iff used_event lies in [old, new).
    CHECK(virtio::VirtQueue::vring_need_event(0, 1, 0));
    CHECK_FALSE(virtio::VirtQueue::vring_need_event(1, 1, 0));
    CHECK(virtio::VirtQueue::vring_need_event(4, 10, 3));
    CHECK(virtio::VirtQueue::vring_need_event(9, 10, 3));
    CHECK_FALSE(virtio::VirtQueue::vring_need_event(10, 10, 3));
    CHECK_FALSE(virtio::VirtQueue::vring_need_event(2, 10, 3));
    CHECK_FALSE(virtio::VirtQueue::vring_need_event(5, 5, 5));
    // Wrap: used.idx goes 65535 -> 0.
    CHECK(virtio::VirtQueue::vring_need_event(65535, 0, 65535));
    CHECK_FALSE(virtio::VirtQueue::vring_need_event(0, 0, 65535));
    CHECK(virtio::VirtQueue::vring_need_event(65534, 2, 65533));
    CHECK(virtio::VirtQueue::vring_need_event(1, 2, 65533));
    CHECK_FALSE(virtio::VirtQueue::vring_need_event(2, 2, 65533));
    CHECK_FALSE(virtio::VirtQueue::vring_need_event(65532, 2, 65533));
}

TEST_CASE("virtqueue interrupt suppression", "[unit][virtqueue]")
{
    SECTION("without EVENT_IDX: avail.flags NO_INTERRUPT")
    {
        MockDriver d;
        CHECK_FALSE(d.queue.needs_notification()); // nothing used yet
        CHECK_FALSE(d.queue.add_used(0, 0).has_value());
        CHECK(d.queue.needs_notification());
        CHECK_FALSE(d.queue.needs_notification()); // nothing new since
        d.set_avail_flags(virtio::kVirtqAvailFNoInterrupt);
        CHECK_FALSE(d.queue.add_used(0, 0).has_value());
        CHECK_FALSE(d.queue.needs_notification());
    }
    SECTION("with EVENT_IDX: used_event")
    {
        MockDriver d(false, true);
        d.set_used_event(1); // interrupt when used.idx passes 1 (becomes 2)
        CHECK_FALSE(d.queue.add_used(0, 0).has_value());
        CHECK_FALSE(d.queue.needs_notification()); // used.idx 0 -> 1
        CHECK_FALSE(d.queue.add_used(0, 0).has_value());
        CHECK(d.queue.needs_notification()); // 1 -> 2 crosses used_event
        d.set_avail_flags(virtio::kVirtqAvailFNoInterrupt); // ignored with EVENT_IDX
        d.set_used_event(2);
        CHECK_FALSE(d.queue.add_used(0, 0).has_value());
        CHECK_FALSE(d.queue.add_used(0, 0).has_value());
        CHECK(d.queue.needs_notification()); // 2 -> 4 batch covers event 2
    }
    SECTION("with EVENT_IDX across the 65535 -> 0 wrap")
    {
        MockDriver d(false, true);
        for (uint32_t i = 0; i < 65535; ++i) {
            REQUIRE_FALSE(d.queue.add_used(0, 0).has_value());
        }
        d.set_used_event(0);
        (void)d.queue.needs_notification();
        CHECK(d.used_idx() == 65535);
        CHECK_FALSE(d.queue.add_used(0, 0).has_value());
        CHECK(d.used_idx() == 0);
        CHECK_FALSE(d.queue.needs_notification()); // 65535 -> 0 does not pass event 0
        CHECK_FALSE(d.queue.add_used(0, 0).has_value());
        CHECK(d.queue.needs_notification()); // 0 -> 1 does
    }
}

TEST_CASE("virtqueue driver-notification suppression", "[unit][virtqueue]")
{
    SECTION("without EVENT_IDX: used.flags NO_NOTIFY")
    {
        MockDriver d;
        CHECK(d.queue.set_notifications_suppressed(true));
        CHECK(d.memory.read_obj<uint16_t>(kUsed) == virtio::kVirtqUsedFNoNotify);
        CHECK(d.queue.set_notifications_suppressed(false));
        CHECK(d.memory.read_obj<uint16_t>(kUsed) == 0);
    }
    SECTION("with EVENT_IDX: used.avail_event")
    {
        MockDriver d(false, true);
        CHECK(d.queue.set_avail_event(0x1234));
        CHECK(d.memory.read_obj<uint16_t>(kUsed + 4 + uint64_t{kSize} * 8) == 0x1234);
        CHECK(d.queue.set_notifications_suppressed(true));
        CHECK(d.memory.read_obj<uint16_t>(kUsed) == 0); // flags untouched
    }
}

TEST_CASE("virtqueue survives random rings and only yields checked chains", "[unit][virtqueue]")
{
    uint64_t state = 0x9e3779b97f4a7c15;
    auto next = [&state] {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    };
    for (int round = 0; round < 200; ++round) {
        MockDriver d(true, round % 2 == 0);
        // Small random addresses and lengths so some descriptors are valid.
        for (uint16_t i = 0; i < kSize; ++i) {
            const uint64_t r = next();
            const uint16_t flags = static_cast<uint16_t>(r & 7);
            const uint64_t addr = (r & (1u << 3)) != 0 ? kIndirect.value() : (r >> 8) % (32 * kMiB);
            d.desc(i, addr, static_cast<uint32_t>((r >> 40) % 64), flags, static_cast<uint16_t>((r >> 48) % 10));
            d.desc(kIndirect, i, (r >> 12) % (32 * kMiB), static_cast<uint32_t>(r >> 32),
                   static_cast<uint16_t>((next() & 7) | (i % 3 == 0 ? virtio::kVirtqDescFNext : 0)),
                   static_cast<uint16_t>(next() % 10));
        }
        for (uint16_t i = 0; i < kSize; ++i) {
            d.offer(static_cast<uint16_t>(next() % 10));
        }
        for (int popped = 0; popped <= kSize; ++popped) {
            auto chain = d.queue.pop();
            if (!chain) {
                break;
            }
            REQUIRE(chain->head() < kSize);
            uint64_t total = 0;
            bool writable = false;
            for (const auto& buffer : chain->buffers()) {
                CHECK(d.memory.contains(buffer.addr, buffer.len));
                CHECK((buffer.device_writable || !writable));
                writable = writable || buffer.device_writable;
                total += buffer.len;
            }
            CHECK(total == chain->total_len());
        }
    }
}
