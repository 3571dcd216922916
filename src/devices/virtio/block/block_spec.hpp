// virtio-blk wire format: virtio 1.2 section 5.2 (feature bits 5.2.3, configuration
// layout 5.2.4, request header, types and status codes 5.2.6). Little-endian; x86 hosts only.
#pragma once

#include <cstddef>
#include <cstdint>

namespace minivmm::virtio {

// 5.2.3 Feature bits.
inline constexpr uint64_t kBlkFSegMax = 1ULL << 2;
inline constexpr uint64_t kBlkFRo = 1ULL << 5;
inline constexpr uint64_t kBlkFBlkSize = 1ULL << 6;
inline constexpr uint64_t kBlkFFlush = 1ULL << 9;
inline constexpr uint64_t kBlkFDiscard = 1ULL << 13;
inline constexpr uint64_t kBlkFWriteZeroes = 1ULL << 14;

// 5.2.6 Request types.
inline constexpr uint32_t kBlkTIn = 0;
inline constexpr uint32_t kBlkTOut = 1;
inline constexpr uint32_t kBlkTFlush = 4;
inline constexpr uint32_t kBlkTGetId = 8;
inline constexpr uint32_t kBlkTDiscard = 11;
inline constexpr uint32_t kBlkTWriteZeroes = 13;

// 5.2.6 Status codes.
inline constexpr uint8_t kBlkSOk = 0;
inline constexpr uint8_t kBlkSIoErr = 1;
inline constexpr uint8_t kBlkSUnsupp = 2;

// Sector size of the request header's `sector` field, whatever blk_size says (5.2.6).
inline constexpr uint64_t kSectorSize = 512;
inline constexpr unsigned kSectorShift = 9;
// VIRTIO_BLK_ID_BYTES: the GET_ID answer, zero-padded.
inline constexpr std::size_t kBlkIdBytes = 20;

// struct virtio_blk_req, the driver-readable header (5.2.6).
struct BlkReqHeader {
    uint32_t type;
    uint32_t reserved; // ioprio in legacy drivers; ignored
    uint64_t sector;
};
static_assert(sizeof(BlkReqHeader) == 16);

// struct virtio_blk_discard_write_zeroes, one segment of a DISCARD or WRITE_ZEROES (5.2.6).
struct BlkDiscardSegment {
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags;
};
static_assert(sizeof(BlkDiscardSegment) == 16);
inline constexpr uint32_t kBlkDiscardFUnmap = 1;

// struct virtio_blk_config up to write_zeroes_may_unmap (5.2.4); the secure-erase and zoned
// fields after it stay zero because their features are never offered.
#pragma pack(push, 1)
struct BlkConfig {
    uint64_t capacity; // in 512-byte sectors
    uint32_t size_max;
    uint32_t seg_max;
    uint16_t geometry_cylinders;
    uint8_t geometry_heads;
    uint8_t geometry_sectors;
    uint32_t blk_size;
    uint8_t physical_block_exp;
    uint8_t alignment_offset;
    uint16_t min_io_size;
    uint32_t opt_io_size;
    uint8_t writeback;
    uint8_t unused0;
    uint16_t num_queues;
    uint32_t max_discard_sectors;
    uint32_t max_discard_seg;
    uint32_t discard_sector_alignment;
    uint32_t max_write_zeroes_sectors;
    uint32_t max_write_zeroes_seg;
    uint8_t write_zeroes_may_unmap;
    uint8_t unused1[3];
};
#pragma pack(pop)
static_assert(sizeof(BlkConfig) == 60);
static_assert(offsetof(BlkConfig, blk_size) == 20);
static_assert(offsetof(BlkConfig, max_discard_sectors) == 36);
static_assert(offsetof(BlkConfig, write_zeroes_may_unmap) == 56);

} // namespace minivmm::virtio
