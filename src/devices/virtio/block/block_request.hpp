// Turning a popped descriptor chain into a checked virtio-blk request (virtio 1.2 5.2.6).
// Framing is free (2.6.4): the 16-byte header may span descriptors, data may share a
// descriptor with the header or the status, and the status is the chain's last
// device-writable byte. Every guest value is checked here, against the disk's limits, so
// the device only executes requests that are in range and well-formed.
//
// A chain without room for the header or a status byte cannot be answered: it is
// malformed, and the device needs a reset (QEMU does the same). Anything else wrong gets
// a status: IOERR (bad layout, out of range, read-only) or UNSUPP (unknown type, 5.2.6.2).
#pragma once

#include "devices/virtio/block/block_spec.hpp"
#include "devices/virtio/descriptor_chain.hpp"
#include "memory/guest_memory.hpp"

#include <cstdint>
#include <string_view>
#include <variant>
#include <vector>

namespace minivmm::virtio {

// What a request is checked against: the disk and the negotiated features.
struct BlockLimits {
    uint64_t capacity_sectors = 0;
    bool readonly = false;
    bool discard = false;      // VIRTIO_BLK_F_DISCARD negotiated
    bool write_zeroes = false; // VIRTIO_BLK_F_WRITE_ZEROES negotiated
    uint32_t seg_max = 0;      // data buffers of one IN or OUT
    uint32_t max_discard_sectors = 0;
    uint32_t max_discard_seg = 0;
    uint32_t max_write_zeroes_sectors = 0;
    uint32_t max_write_zeroes_seg = 0;
};

enum class BlockRequestType { In, Out, Flush, GetId, Discard, WriteZeroes };

// The kinds of guest mistakes, each logged once per device.
enum class BlockRequestError {
    HeaderTooShort,        // fewer than 16 device-readable bytes: malformed
    NoStatus,              // no device-writable byte for the status: malformed
    WrongDirection,        // data the request type does not take, or in the wrong direction
    NotSectorMultiple,     // IN/OUT data length not a multiple of 512
    TooManyBuffers,        // more IN/OUT data buffers than seg_max
    BeyondEnd,             // sectors past the end of the disk
    ReadOnly,              // a write, discard or write-zeroes on a read-only disk
    UnsupportedType,       // unknown type, or DISCARD/WRITE_ZEROES not negotiated
    BadSegmentList,        // DISCARD/WRITE_ZEROES payload empty or not whole segments
    TooManySegments,       // more segments than max_discard_seg / max_write_zeroes_seg
    UnknownSegmentFlags,   // reserved flag bits set (UNSUPP, 5.2.6.2)
    DiscardWithUnmap,      // unmap flag on a DISCARD (UNSUPP, 5.2.6.2)
    SegmentTooLong,        // num_sectors above max_discard_sectors / max_write_zeroes_sectors
};
inline constexpr std::size_t kBlockRequestErrorKinds = 13;

[[nodiscard]] std::string_view to_string(BlockRequestError error);

// A request ready to execute.
struct BlockRequest {
    BlockRequestType type = BlockRequestType::In;
    uint16_t head = 0;
    uint64_t sector = 0;
    // IN and GET_ID: the device-writable data area; OUT: the device-readable one. Pieces
    // in order, none empty, each inside RAM.
    std::vector<DescriptorBuffer> data;
    uint32_t data_len = 0;
    // DISCARD and WRITE_ZEROES: the segments, copied out of guest memory and checked.
    std::vector<BlkDiscardSegment> segments;
    memory::GuestAddress status;
};

// Answered at once with `status_code`; nothing else is done.
struct RejectedRequest {
    uint16_t head = 0;
    memory::GuestAddress status;
    uint8_t status_code = kBlkSIoErr;
    BlockRequestError why = BlockRequestError::WrongDirection;
};

// Cannot be answered: the device reports a driver error and needs a reset.
struct MalformedRequest {
    uint16_t head = 0;
    BlockRequestError why = BlockRequestError::HeaderTooShort;
};

using ParsedRequest = std::variant<BlockRequest, RejectedRequest, MalformedRequest>;

[[nodiscard]] ParsedRequest parse_block_request(const DescriptorChain& chain, const memory::GuestMemory& memory,
                                                const BlockLimits& limits);

} // namespace minivmm::virtio
