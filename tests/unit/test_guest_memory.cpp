#include "memory/guest_memory.hpp"
#include "arch/x86_64/guest_ram.hpp"

#include <minivmm/vm_config.hpp>

#include <catch2/catch.hpp>

#include <array>

using namespace minivmm;

TEST_CASE("RAM is laid out around the 3-4 GiB MMIO hole", "[unit][memory]")
{
    auto small = arch::ram_regions(512 * kMiB);
    REQUIRE(small.size() == 1);
    CHECK(small[0].base.value() == 0);
    CHECK(small[0].size == 512 * kMiB);

    auto exact = arch::ram_regions(3 * kGiB);
    REQUIRE(exact.size() == 1);
    CHECK(exact[0].size == 3 * kGiB);

    auto big = arch::ram_regions(3584 * kMiB);
    REQUIRE(big.size() == 2);
    CHECK(big[0].size == 3 * kGiB);
    CHECK(big[1].base.value() == 4 * kGiB);
    CHECK(big[1].size == 512 * kMiB);
    CHECK(big[1].host_offset == 3 * kGiB);
}

TEST_CASE("guest memory refuses regions that overlap, are empty or leave gaps in the host mapping", "[unit][memory]")
{
    using memory::GuestAddress;
    CHECK_THROWS_AS(memory::GuestMemory::create({}), HostError);
    CHECK_THROWS_AS(memory::GuestMemory::create({{GuestAddress(0), 0, 0}}), HostError);
    // Overlapping guest ranges, and a second region whose host offset skips bytes.
    CHECK_THROWS_AS(memory::GuestMemory::create({{GuestAddress(0), 2 * kMiB, 0}, {GuestAddress(kMiB), kMiB, 2 * kMiB}}),
                    HostError);
    CHECK_THROWS_AS(memory::GuestMemory::create({{GuestAddress(0), kMiB, 0}, {GuestAddress(4 * kMiB), kMiB, 2 * kMiB}}),
                    HostError);
    // A region that wraps past the top of the address space.
    CHECK_THROWS_AS(memory::GuestMemory::create({{GuestAddress(~uint64_t{0} - 0xfff), 0x2000, 0}}), HostError);

    auto two = memory::GuestMemory::create({{GuestAddress(0), kMiB, 0}, {GuestAddress(8 * kMiB), kMiB, kMiB}});
    CHECK(two.size() == 2 * kMiB);
    CHECK(two.contains(GuestAddress(8 * kMiB), kMiB));
    CHECK_FALSE(two.contains(GuestAddress(kMiB), 1));
}

TEST_CASE("guest RAM with transparent huge pages starts every region on a 2 MiB boundary", "[unit][memory]")
{
    // KVM maps a guest huge page with a host huge page only where guest and host addresses
    // agree modulo 2 MiB; guest RAM starts at 0 and at 4 GiB.
    for (uint64_t size : {64 * kMiB, 3584 * kMiB, 257 * kMiB}) {
        auto memory = arch::create_guest_ram(size, memory::HugePages::Transparent);
        for (const auto& region : memory.regions()) {
            CHECK(memory.host_address_of(region) % (2 * kMiB) == 0);
        }
        memory.write_obj(memory::GuestAddress(size - 8 > 3 * kGiB ? 4 * kGiB : 0x1000), uint64_t{42});
        CHECK(memory.size() == size);
    }
}

TEST_CASE("guest memory accessors check bounds and overflow", "[unit][memory]")
{
    auto memory = arch::create_guest_ram(3584 * kMiB); // both sides of the hole; NORESERVE
    const uint64_t low_end = 3 * kGiB;

    SECTION("in-range typed access round-trips on both sides of the hole")
    {
        memory.write_obj(memory::GuestAddress(0x1000), uint64_t{0x1122334455667788});
        CHECK(memory.read_obj<uint64_t>(memory::GuestAddress(0x1000)) == 0x1122334455667788);
        memory.write_obj(memory::GuestAddress(4 * kGiB + 8), uint32_t{0xdeadbeef});
        CHECK(memory.read_obj<uint32_t>(memory::GuestAddress(4 * kGiB + 8)) == 0xdeadbeef);
        memory.write_obj(memory::GuestAddress(low_end - 8), uint64_t{7});
        CHECK(memory.read_obj<uint64_t>(memory::GuestAddress(low_end - 8)) == 7);
    }
    SECTION("the hole is not RAM")
    {
        CHECK_FALSE(memory.contains(memory::GuestAddress(low_end), 1));
        CHECK_FALSE(memory.contains(memory::GuestAddress(0xfee00000), 4));
        CHECK_FALSE(memory.try_read_obj<uint32_t>(memory::GuestAddress(0xd0000000)).has_value());
        CHECK_THROWS_AS(memory.read_obj<uint32_t>(memory::GuestAddress(0xd0000000)), memory::GuestMemoryError);
    }
    SECTION("ranges that straddle a region end are rejected")
    {
        CHECK_FALSE(memory.contains(memory::GuestAddress(low_end - 4), 8));
        CHECK_FALSE(memory.try_write_obj(memory::GuestAddress(low_end - 4), uint64_t{1}));
        CHECK_FALSE(memory.contains(memory::GuestAddress(4 * kGiB + 512 * kMiB - 4), 8));
        CHECK(memory.contains(memory::GuestAddress(4 * kGiB + 512 * kMiB - 8), 8));
    }
    SECTION("lengths that wrap the address space are rejected")
    {
        CHECK_FALSE(memory.contains(memory::GuestAddress(0x1000), UINT64_MAX));
        CHECK_FALSE(memory.try_slice(memory::GuestAddress(UINT64_MAX - 1), 4).has_value());
        CHECK_FALSE(memory.contains(memory::GuestAddress(UINT64_MAX), 1));
    }
    SECTION("zero-length access is fine inside RAM, including at a region's end")
    {
        CHECK(memory.contains(memory::GuestAddress(0), 0));
        CHECK(memory.contains(memory::GuestAddress(low_end), 0));
    }
    SECTION("fill and slice")
    {
        memory.fill(memory::GuestAddress(0x2000), 16, std::byte{0xab});
        auto view = memory.slice(memory::GuestAddress(0x2000), 16);
        for (auto b : view) {
            CHECK(b == std::byte{0xab});
        }
    }
}

TEST_CASE("guest address arithmetic detects overflow", "[unit][memory]")
{
    CHECK(memory::GuestAddress(10).checked_add(5).value() == memory::GuestAddress(15));
    CHECK_FALSE(memory::GuestAddress(UINT64_MAX).checked_add(1).has_value());
}
