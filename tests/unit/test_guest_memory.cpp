#include "memory/guest_memory.hpp"

#include <minivmm/vm_config.hpp>

#include <catch2/catch.hpp>

#include <array>

using namespace minivmm;

TEST_CASE("RAM is laid out around the 3-4 GiB MMIO hole", "[unit][memory]")
{
    auto small = memory::GuestMemory::layout(512 * kMiB);
    REQUIRE(small.size() == 1);
    CHECK(small[0].base.value() == 0);
    CHECK(small[0].size == 512 * kMiB);

    auto exact = memory::GuestMemory::layout(3 * kGiB);
    REQUIRE(exact.size() == 1);
    CHECK(exact[0].size == 3 * kGiB);

    auto big = memory::GuestMemory::layout(3584 * kMiB);
    REQUIRE(big.size() == 2);
    CHECK(big[0].size == 3 * kGiB);
    CHECK(big[1].base.value() == 4 * kGiB);
    CHECK(big[1].size == 512 * kMiB);
    CHECK(big[1].host_offset == 3 * kGiB);
}

TEST_CASE("guest memory accessors check bounds and overflow", "[unit][memory]")
{
    auto memory = memory::GuestMemory::create(3584 * kMiB); // both sides of the hole; NORESERVE
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
