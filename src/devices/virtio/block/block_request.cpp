// virtio-blk request parsing: virtio 1.2 sections 5.2.6, 5.2.6.1 and 5.2.6.2.
#include "devices/virtio/block/block_request.hpp"

#include <algorithm>
#include <optional>
#include <span>

namespace minivmm::virtio {

std::string_view to_string(BlockRequestError error)
{
    switch (error) {
    case BlockRequestError::HeaderTooShort: return "request header shorter than 16 bytes";
    case BlockRequestError::NoStatus: return "no device-writable status byte";
    case BlockRequestError::WrongDirection: return "data buffers of the wrong direction for the request type";
    case BlockRequestError::NotSectorMultiple: return "data length not a multiple of 512";
    case BlockRequestError::TooManyBuffers: return "more data buffers than seg_max";
    case BlockRequestError::BeyondEnd: return "request beyond the end of the disk";
    case BlockRequestError::ReadOnly: return "write to a read-only disk";
    case BlockRequestError::UnsupportedType: return "unsupported request type";
    case BlockRequestError::BadSegmentList: return "discard/write-zeroes payload is not whole segments";
    case BlockRequestError::TooManySegments: return "more discard/write-zeroes segments than the maximum";
    case BlockRequestError::UnknownSegmentFlags: return "reserved discard/write-zeroes flag bits set";
    case BlockRequestError::DiscardWithUnmap: return "unmap flag on a discard";
    case BlockRequestError::SegmentTooLong: return "discard/write-zeroes segment longer than the maximum";
    }
    return "unknown request error";
}

namespace {

uint64_t total(std::span<const DescriptorBuffer> buffers)
{
    uint64_t sum = 0;
    for (const auto& b : buffers) {
        sum += b.len; // at most 2^32 in all: DescriptorChain checked it
    }
    return sum;
}

// The non-empty pieces of bytes [begin, end) of the area the buffers make up, in order.
std::vector<DescriptorBuffer> pieces(std::span<const DescriptorBuffer> buffers, uint64_t begin, uint64_t end)
{
    std::vector<DescriptorBuffer> out;
    uint64_t offset = 0;
    for (const auto& b : buffers) {
        const uint64_t from = std::max(begin, offset);
        const uint64_t to = std::min(end, offset + b.len);
        if (from < to) {
            // Inside a buffer DescriptorChain found in RAM, so no overflow.
            out.push_back(DescriptorBuffer{b.addr + (from - offset), static_cast<uint32_t>(to - from),
                                           b.device_writable});
        }
        offset += b.len;
    }
    return out;
}

// Copies bytes [offset, offset + out.size()) of the area out of guest memory.
bool gather(const memory::GuestMemory& memory, std::span<const DescriptorBuffer> buffers, uint64_t offset,
            std::span<std::byte> out)
{
    std::size_t copied = 0;
    for (const auto& piece : pieces(buffers, offset, offset + out.size())) {
        if (!memory.try_read(piece.addr, out.subspan(copied, piece.len))) {
            return false;
        }
        copied += piece.len;
    }
    return copied == out.size();
}

bool in_range(uint64_t sector, uint64_t sectors, uint64_t capacity)
{
    return sector <= capacity && sectors <= capacity - sector;
}

class Parser {
public:
    Parser(const DescriptorChain& chain, const memory::GuestMemory& memory, const BlockLimits& limits)
        : chain_(chain), memory_(memory), limits_(limits)
    {
        const auto buffers = chain.buffers();
        const auto first_writable = std::find_if(buffers.begin(), buffers.end(),
                                                 [](const DescriptorBuffer& b) { return b.device_writable; });
        readable_ = buffers.first(static_cast<std::size_t>(first_writable - buffers.begin()));
        writable_ = buffers.subspan(readable_.size());
        readable_len_ = total(readable_);
        writable_len_ = total(writable_);
    }

    ParsedRequest parse()
    {
        if (readable_len_ < sizeof(BlkReqHeader)) {
            return MalformedRequest{chain_.head(), BlockRequestError::HeaderTooShort};
        }
        if (writable_len_ < 1) {
            return MalformedRequest{chain_.head(), BlockRequestError::NoStatus};
        }
        BlkReqHeader header{};
        const auto status = pieces(writable_, writable_len_ - 1, writable_len_);
        if (status.size() != 1 ||
            !gather(memory_, readable_, 0, std::as_writable_bytes(std::span(&header, 1)))) {
            return MalformedRequest{chain_.head(), BlockRequestError::NoStatus};
        }
        status_ = status.front().addr;
        sector_ = header.sector;
        // Data after the header (device-readable) and before the status (device-writable).
        out_len_ = readable_len_ - sizeof(BlkReqHeader);
        in_len_ = writable_len_ - 1;

        switch (header.type) {
        case kBlkTIn:
            if (out_len_ != 0) {
                return reject(kBlkSIoErr, BlockRequestError::WrongDirection);
            }
            return transfer(BlockRequestType::In, pieces(writable_, 0, in_len_));
        case kBlkTOut:
            if (in_len_ != 0) {
                return reject(kBlkSIoErr, BlockRequestError::WrongDirection);
            }
            if (limits_.readonly) {
                return reject(kBlkSIoErr, BlockRequestError::ReadOnly);
            }
            return transfer(BlockRequestType::Out, pieces(readable_, sizeof(BlkReqHeader), readable_len_));
        case kBlkTFlush:
            if (out_len_ != 0 || in_len_ != 0) {
                return reject(kBlkSIoErr, BlockRequestError::WrongDirection);
            }
            return request(BlockRequestType::Flush);
        case kBlkTGetId: {
            if (out_len_ != 0) {
                return reject(kBlkSIoErr, BlockRequestError::WrongDirection);
            }
            auto id = request(BlockRequestType::GetId);
            id.data = pieces(writable_, 0, in_len_);
            id.data_len = static_cast<uint32_t>(in_len_);
            return id;
        }
        case kBlkTDiscard:
            return zeroing(BlockRequestType::Discard, limits_.discard, limits_.max_discard_seg,
                           limits_.max_discard_sectors);
        case kBlkTWriteZeroes:
            return zeroing(BlockRequestType::WriteZeroes, limits_.write_zeroes, limits_.max_write_zeroes_seg,
                           limits_.max_write_zeroes_sectors);
        default: return reject(kBlkSUnsupp, BlockRequestError::UnsupportedType);
        }
    }

private:
    RejectedRequest reject(uint8_t code, BlockRequestError why) const
    {
        return RejectedRequest{chain_.head(), status_, code, why};
    }

    BlockRequest request(BlockRequestType type) const
    {
        BlockRequest r;
        r.type = type;
        r.head = chain_.head();
        r.sector = sector_;
        r.status = status_;
        return r;
    }

    ParsedRequest transfer(BlockRequestType type, std::vector<DescriptorBuffer> data) const
    {
        const uint64_t len = type == BlockRequestType::In ? in_len_ : out_len_;
        if (len % kSectorSize != 0) {
            return reject(kBlkSIoErr, BlockRequestError::NotSectorMultiple);
        }
        if (data.size() > limits_.seg_max) {
            return reject(kBlkSIoErr, BlockRequestError::TooManyBuffers);
        }
        if (!in_range(sector_, len >> kSectorShift, limits_.capacity_sectors)) {
            return reject(kBlkSIoErr, BlockRequestError::BeyondEnd);
        }
        auto r = request(type);
        r.data = std::move(data);
        r.data_len = static_cast<uint32_t>(len);
        return r;
    }

    ParsedRequest zeroing(BlockRequestType type, bool negotiated, uint32_t max_seg, uint32_t max_sectors) const
    {
        if (!negotiated) {
            return reject(kBlkSUnsupp, BlockRequestError::UnsupportedType);
        }
        if (in_len_ != 0) {
            return reject(kBlkSIoErr, BlockRequestError::WrongDirection);
        }
        if (limits_.readonly) {
            return reject(kBlkSIoErr, BlockRequestError::ReadOnly);
        }
        if (out_len_ == 0 || out_len_ % sizeof(BlkDiscardSegment) != 0) {
            return reject(kBlkSIoErr, BlockRequestError::BadSegmentList);
        }
        const uint64_t count = out_len_ / sizeof(BlkDiscardSegment);
        if (count > max_seg) {
            return reject(kBlkSUnsupp, BlockRequestError::TooManySegments);
        }
        auto r = request(type);
        r.segments.resize(count);
        if (!gather(memory_, readable_, sizeof(BlkReqHeader), std::as_writable_bytes(std::span(r.segments)))) {
            return reject(kBlkSIoErr, BlockRequestError::BadSegmentList);
        }
        // UNSUPP before IOERR: 5.2.6.2 makes flags decide first.
        for (const auto& seg : r.segments) {
            if ((seg.flags & ~kBlkDiscardFUnmap) != 0) {
                return reject(kBlkSUnsupp, BlockRequestError::UnknownSegmentFlags);
            }
            if (type == BlockRequestType::Discard && (seg.flags & kBlkDiscardFUnmap) != 0) {
                return reject(kBlkSUnsupp, BlockRequestError::DiscardWithUnmap);
            }
        }
        for (const auto& seg : r.segments) {
            if (seg.num_sectors > max_sectors) {
                return reject(kBlkSIoErr, BlockRequestError::SegmentTooLong);
            }
            if (!in_range(seg.sector, seg.num_sectors, limits_.capacity_sectors)) {
                return reject(kBlkSIoErr, BlockRequestError::BeyondEnd);
            }
        }
        return r;
    }

    const DescriptorChain& chain_;
    const memory::GuestMemory& memory_;
    const BlockLimits& limits_;
    std::span<const DescriptorBuffer> readable_;
    std::span<const DescriptorBuffer> writable_;
    uint64_t readable_len_ = 0;
    uint64_t writable_len_ = 0;
    uint64_t out_len_ = 0;
    uint64_t in_len_ = 0;
    uint64_t sector_ = 0;
    memory::GuestAddress status_;
};

} // namespace

ParsedRequest parse_block_request(const DescriptorChain& chain, const memory::GuestMemory& memory,
                                  const BlockLimits& limits)
{
    return Parser(chain, memory, limits).parse();
}

} // namespace minivmm::virtio
