// virtio-blk request parsing (virtio 1.2 5.2.6): every request type with direct, chained
// and indirect descriptors, and every way a chain can be wrong.
#include "devices/virtio/block/block_request.hpp"
#include "support/virtio_blk_driver.hpp"

#include <catch2/catch.hpp>

#include <variant>

using namespace minivmm;
using namespace minivmm::virtio;
using minivmm::test::BlkChain;
using minivmm::test::Layout;
using minivmm::test::offer_blk;
using minivmm::test::VirtioDriver;

namespace {

constexpr BlockLimits kLimits{
    .capacity_sectors = 64,
    .readonly = false,
    .discard = true,
    .write_zeroes = true,
    .seg_max = 8,
    .max_discard_sectors = 32,
    .max_discard_seg = 2,
    .max_write_zeroes_sectors = 32,
    .max_write_zeroes_seg = 2,
};

ParsedRequest parse(VirtioDriver& d, const BlockLimits& limits = kLimits)
{
    auto chain = d.queue.pop();
    REQUIRE(chain);
    return parse_block_request(*chain, d.memory, limits);
}

BlockRequest ok(const ParsedRequest& p)
{
    if (const auto* r = std::get_if<RejectedRequest>(&p)) {
        FAIL("rejected: " << to_string(r->why));
    }
    if (const auto* m = std::get_if<MalformedRequest>(&p)) {
        FAIL("malformed: " << to_string(m->why));
    }
    return std::get<BlockRequest>(p);
}

RejectedRequest rejected(const ParsedRequest& p)
{
    REQUIRE(std::holds_alternative<RejectedRequest>(p));
    return std::get<RejectedRequest>(p);
}

// The data area of a parsed request, as one run of guest bytes from `start`.
void check_data(const BlockRequest& r, const BlkChain& c, bool writable)
{
    uint64_t expect = c.data.value();
    uint64_t total = 0;
    for (const auto& piece : r.data) {
        CHECK(piece.addr.value() == expect);
        CHECK(piece.device_writable == writable);
        CHECK(piece.len > 0);
        expect += piece.len;
        total += piece.len;
    }
    CHECK(total == c.data_len);
    CHECK(r.data_len == c.data_len);
    CHECK(r.status == c.status);
    CHECK(r.head == c.head);
}

BlkChain offer_segments(VirtioDriver& d, uint32_t type, std::vector<BlkDiscardSegment> segments, bool indirect = false)
{
    BlkChain c;
    const memory::GuestAddress h = d.alloc(16);
    d.memory.write_obj(h, BlkReqHeader{type, 0, 0});
    c.data = d.alloc(segments.size() * 16 + 1);
    d.memory.write(c.data, std::as_bytes(std::span(segments)));
    c.data_len = static_cast<uint32_t>(segments.size() * 16);
    c.status = d.alloc(1);
    c.head = d.offer({{h, 16, false}, {c.data, c.data_len, false}, {c.status, 1, true}}, indirect);
    return c;
}

} // namespace

TEST_CASE("virtio-blk parses every request type in every layout", "[unit][virtio-blk]")
{
    const Layout layout = GENERATE(Layout::Separate, Layout::Merged, Layout::Split, Layout::Indirect);
    INFO("layout " << to_string(layout));
    VirtioDriver d;

    SECTION("IN")
    {
        auto c = offer_blk(d, kBlkTIn, 3, 1536, true, layout);
        const auto r = ok(parse(d));
        CHECK(r.type == BlockRequestType::In);
        CHECK(r.sector == 3);
        check_data(r, c, true);
        CHECK(r.data.size() == (layout == Layout::Split ? 3U : 1U));
    }
    SECTION("OUT")
    {
        auto c = offer_blk(d, kBlkTOut, 60, 2048, false, layout);
        const auto r = ok(parse(d));
        CHECK(r.type == BlockRequestType::Out);
        CHECK(r.sector == 60);
        check_data(r, c, false);
    }
    SECTION("FLUSH")
    {
        auto c = offer_blk(d, kBlkTFlush, 0, 0, false, layout);
        const auto r = ok(parse(d));
        CHECK(r.type == BlockRequestType::Flush);
        CHECK(r.data.empty());
        CHECK(r.status == c.status);
    }
    SECTION("GET_ID")
    {
        auto c = offer_blk(d, kBlkTGetId, 0, 20, true, layout);
        const auto r = ok(parse(d));
        CHECK(r.type == BlockRequestType::GetId);
        check_data(r, c, true);
    }
    SECTION("DISCARD and WRITE_ZEROES")
    {
        const bool indirect = layout == Layout::Indirect;
        offer_segments(d, kBlkTDiscard, {{4, 8, 0}, {40, 24, 0}}, indirect);
        const auto discard = ok(parse(d));
        CHECK(discard.type == BlockRequestType::Discard);
        REQUIRE(discard.segments.size() == 2);
        CHECK(discard.segments[1].sector == 40);
        CHECK(discard.segments[1].num_sectors == 24);

        offer_segments(d, kBlkTWriteZeroes, {{0, 32, kBlkDiscardFUnmap}}, indirect);
        const auto zero = ok(parse(d));
        CHECK(zero.type == BlockRequestType::WriteZeroes);
        REQUIRE(zero.segments.size() == 1);
        CHECK(zero.segments[0].flags == kBlkDiscardFUnmap);
    }
    SECTION("unknown type")
    {
        auto c = offer_blk(d, 99, 0, 512, true, layout);
        const auto r = rejected(parse(d));
        CHECK(r.status_code == kBlkSUnsupp);
        CHECK(r.status == c.status);
        CHECK(r.why == BlockRequestError::UnsupportedType);
    }
}

TEST_CASE("virtio-blk checks sectors against the capacity", "[unit][virtio-blk]")
{
    VirtioDriver d;
    SECTION("last sectors are in range")
    {
        offer_blk(d, kBlkTIn, 62, 1024, true);
        CHECK(ok(parse(d)).sector == 62);
    }
    SECTION("one sector past the end")
    {
        offer_blk(d, kBlkTIn, 63, 1024, true);
        CHECK(rejected(parse(d)).why == BlockRequestError::BeyondEnd);
    }
    SECTION("start past the end")
    {
        offer_blk(d, kBlkTOut, 65, 0, false);
        const auto r = rejected(parse(d));
        CHECK(r.status_code == kBlkSIoErr);
        CHECK(r.why == BlockRequestError::BeyondEnd);
    }
    SECTION("sector + length wraps around 2^64")
    {
        offer_blk(d, kBlkTOut, ~uint64_t{0}, 512, false);
        CHECK(rejected(parse(d)).why == BlockRequestError::BeyondEnd);
    }
    SECTION("discard segment past the end")
    {
        offer_segments(d, kBlkTDiscard, {{60, 8, 0}});
        CHECK(rejected(parse(d)).why == BlockRequestError::BeyondEnd);
    }
}

TEST_CASE("virtio-blk refuses writes to a read-only disk", "[unit][virtio-blk]")
{
    VirtioDriver d;
    BlockLimits ro = kLimits;
    ro.readonly = true;
    offer_blk(d, kBlkTOut, 0, 512, false);
    CHECK(rejected(parse(d, ro)).why == BlockRequestError::ReadOnly);
    offer_segments(d, kBlkTDiscard, {{0, 8, 0}});
    CHECK(rejected(parse(d, ro)).why == BlockRequestError::ReadOnly);
    offer_segments(d, kBlkTWriteZeroes, {{0, 8, 0}});
    CHECK(rejected(parse(d, ro)).status_code == kBlkSIoErr);
    // Reads, flushes and GET_ID still work.
    offer_blk(d, kBlkTIn, 0, 512, true);
    CHECK(ok(parse(d, ro)).type == BlockRequestType::In);
    offer_blk(d, kBlkTFlush, 0, 0, false);
    CHECK(ok(parse(d, ro)).type == BlockRequestType::Flush);
}

TEST_CASE("virtio-blk answers bad layouts with IOERR or a device error", "[unit][virtio-blk]")
{
    using Buffer = VirtioDriver::Buffer;
    VirtioDriver d;
    const memory::GuestAddress h = d.alloc(16);
    const memory::GuestAddress data = d.alloc(4096, 4096);
    const memory::GuestAddress status = d.alloc(1);
    auto header = [&](uint32_t type) { d.memory.write_obj(h, BlkReqHeader{type, 0, 0}); };

    SECTION("header shorter than 16 bytes: malformed")
    {
        header(kBlkTIn);
        d.offer({Buffer{h, 15, false}, Buffer{data, 512, true}, Buffer{status, 1, true}});
        const auto p = parse(d);
        REQUIRE(std::holds_alternative<MalformedRequest>(p));
        CHECK(std::get<MalformedRequest>(p).why == BlockRequestError::HeaderTooShort);
    }
    SECTION("no device-writable status byte: malformed")
    {
        header(kBlkTOut);
        d.offer({Buffer{h, 16, false}, Buffer{data, 512, false}, Buffer{status, 1, false}});
        const auto p = parse(d);
        REQUIRE(std::holds_alternative<MalformedRequest>(p));
        CHECK(std::get<MalformedRequest>(p).why == BlockRequestError::NoStatus);
    }
    SECTION("zero-length status descriptor: malformed")
    {
        header(kBlkTFlush);
        d.offer({Buffer{h, 16, false}, Buffer{status, 0, true}});
        CHECK(std::holds_alternative<MalformedRequest>(parse(d)));
    }
    SECTION("IN with device-readable data")
    {
        header(kBlkTIn);
        d.offer({Buffer{h, 16, false}, Buffer{data, 512, false}, Buffer{status, 1, true}});
        const auto r = rejected(parse(d));
        CHECK(r.why == BlockRequestError::WrongDirection);
        CHECK(r.status == status);
        CHECK(r.status_code == kBlkSIoErr);
    }
    SECTION("OUT with device-writable data")
    {
        header(kBlkTOut);
        d.offer({Buffer{h, 16, false}, Buffer{data, 512, true}, Buffer{status, 1, true}});
        CHECK(rejected(parse(d)).why == BlockRequestError::WrongDirection);
    }
    SECTION("FLUSH or GET_ID with data the wrong way")
    {
        header(kBlkTFlush);
        d.offer({Buffer{h, 16, false}, Buffer{data, 512, true}, Buffer{status, 1, true}});
        CHECK(rejected(parse(d)).why == BlockRequestError::WrongDirection);
        header(kBlkTGetId);
        d.offer({Buffer{h, 16, false}, Buffer{data, 20, false}, Buffer{status, 1, true}});
        CHECK(rejected(parse(d)).why == BlockRequestError::WrongDirection);
    }
    SECTION("data length not a multiple of 512")
    {
        header(kBlkTIn);
        d.offer({Buffer{h, 16, false}, Buffer{data, 513, true}, Buffer{status, 1, true}});
        CHECK(rejected(parse(d)).why == BlockRequestError::NotSectorMultiple);
    }
    SECTION("more data buffers than seg_max")
    {
        header(kBlkTIn);
        std::vector<Buffer> buffers{{h, 16, false}};
        for (int i = 0; i < 9; ++i) {
            buffers.push_back({data + 512 * static_cast<uint64_t>(i % 8), 512, true});
        }
        buffers.push_back({status, 1, true});
        d.offer(buffers, true);
        CHECK(rejected(parse(d)).why == BlockRequestError::TooManyBuffers);
    }
    SECTION("status shares the last data descriptor")
    {
        header(kBlkTIn);
        d.offer({Buffer{h, 16, false}, Buffer{data, 1025, true}});
        const auto r = ok(parse(d));
        CHECK(r.data_len == 1024);
        CHECK(r.status == data + 1024);
    }
    SECTION("zero-length descriptors are skipped")
    {
        header(kBlkTOut);
        d.offer({Buffer{h, 16, false}, Buffer{data, 0, false}, Buffer{data, 512, false}, Buffer{status, 1, true},
                 Buffer{status, 0, true}});
        const auto r = ok(parse(d));
        REQUIRE(r.data.size() == 1);
        CHECK(r.data_len == 512);
        CHECK(r.status == status);
    }
}

TEST_CASE("virtio-blk checks discard and write-zeroes segments", "[unit][virtio-blk]")
{
    VirtioDriver d;
    SECTION("reserved flag bits: UNSUPP")
    {
        offer_segments(d, kBlkTWriteZeroes, {{0, 8, 2}});
        const auto r = rejected(parse(d));
        CHECK(r.status_code == kBlkSUnsupp);
        CHECK(r.why == BlockRequestError::UnknownSegmentFlags);
    }
    SECTION("unmap on a discard: UNSUPP")
    {
        offer_segments(d, kBlkTDiscard, {{0, 8, kBlkDiscardFUnmap}});
        const auto r = rejected(parse(d));
        CHECK(r.status_code == kBlkSUnsupp);
        CHECK(r.why == BlockRequestError::DiscardWithUnmap);
    }
    SECTION("more segments than the maximum: UNSUPP")
    {
        offer_segments(d, kBlkTDiscard, {{0, 1, 0}, {2, 1, 0}, {4, 1, 0}});
        const auto r = rejected(parse(d));
        CHECK(r.status_code == kBlkSUnsupp);
        CHECK(r.why == BlockRequestError::TooManySegments);
    }
    SECTION("segment longer than the maximum: IOERR")
    {
        offer_segments(d, kBlkTWriteZeroes, {{0, 33, 0}});
        const auto r = rejected(parse(d));
        CHECK(r.status_code == kBlkSIoErr);
        CHECK(r.why == BlockRequestError::SegmentTooLong);
    }
    SECTION("payload not whole segments: IOERR")
    {
        using Buffer = VirtioDriver::Buffer;
        const memory::GuestAddress h = d.alloc(16);
        d.memory.write_obj(h, BlkReqHeader{kBlkTDiscard, 0, 0});
        const memory::GuestAddress seg = d.alloc(24);
        const memory::GuestAddress status = d.alloc(1);
        d.offer({Buffer{h, 16, false}, Buffer{seg, 20, false}, Buffer{status, 1, true}});
        CHECK(rejected(parse(d)).why == BlockRequestError::BadSegmentList);
        d.offer({Buffer{h, 16, false}, Buffer{status, 1, true}});
        CHECK(rejected(parse(d)).why == BlockRequestError::BadSegmentList);
    }
    SECTION("not negotiated: UNSUPP")
    {
        BlockLimits limits = kLimits;
        limits.discard = false;
        limits.write_zeroes = false;
        offer_segments(d, kBlkTDiscard, {{0, 8, 0}});
        CHECK(rejected(parse(d, limits)).status_code == kBlkSUnsupp);
        offer_segments(d, kBlkTWriteZeroes, {{0, 8, 0}});
        CHECK(rejected(parse(d, limits)).status_code == kBlkSUnsupp);
    }
    SECTION("every error kind has a message")
    {
        for (std::size_t i = 0; i < kBlockRequestErrorKinds; ++i) {
            CHECK(to_string(static_cast<BlockRequestError>(i)) != "unknown request error");
        }
    }
}
