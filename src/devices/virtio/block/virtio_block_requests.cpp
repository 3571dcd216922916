// virtio-blk requests, one at a time from the avail ring to the used ring (virtio 1.2 section
// 5.2.6): parsed, started on the backend (transfers straight from guest memory, or through a
// bounce buffer for cache=none requests that are not aligned), and answered when done.
#include "devices/virtio/block/virtio_block.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <variant>

namespace minivmm::virtio {

namespace {

constexpr std::array<const char*, 6> kTypeNames{"IN", "OUT", "FLUSH", "GET_ID", "DISCARD", "WRITE_ZEROES"};

bool aligned(const DescriptorBuffer& piece)
{
    return piece.addr.value() % backends::DiskImage::kDirectAlignment == 0 &&
           piece.len % backends::DiskImage::kDirectAlignment == 0;
}

} // namespace

void VirtioBlock::take(const DescriptorChain& chain)
{
    auto parsed = parse_block_request(chain, memory_, limits_);
    if (auto* malformed = std::get_if<MalformedRequest>(&parsed)) {
        guest_error(malformed->why);
        fail(to_string(malformed->why));
        return;
    }
    if (auto* rejected = std::get_if<RejectedRequest>(&parsed)) {
        guest_error(rejected->why);
        answer(rejected->head, rejected->status, rejected->status_code, 0);
        return;
    }
    auto& request = std::get<BlockRequest>(parsed);
    const auto type = static_cast<std::size_t>(request.type);
    if (type_counts_[type]++ == 0) {
        log_.debug("first {} request", kTypeNames[type]);
    }
    const std::size_t index = free_slots_.back();
    free_slots_.pop_back();
    Slot& slot = slots_[index];
    slot.busy = true;
    slot.request = std::move(request);
    slot.bounce.reset();
    slot.segment = 0;
    start(index);
}

void VirtioBlock::start(std::size_t index)
{
    Slot& slot = slots_[index];
    switch (slot.request.type) {
    case BlockRequestType::In:
    case BlockRequestType::Out: start_transfer(index); return;
    case BlockRequestType::Flush:
        submit(index, backends::DiskOp{.kind = backends::DiskOpKind::Flush, .offset = 0, .length = 0, .iov = {}});
        return;
    case BlockRequestType::GetId: get_id(index); return;
    case BlockRequestType::Discard:
    case BlockRequestType::WriteZeroes: start_segment(index); return;
    }
}

void VirtioBlock::start_transfer(std::size_t index)
{
    Slot& slot = slots_[index];
    const BlockRequest& r = slot.request;
    if (r.data_len == 0) {
        complete(index, kBlkSOk, 0);
        return;
    }
    const bool bounce = image_.direct() && !std::all_of(r.data.begin(), r.data.end(), aligned);
    if (bounce) {
        if (r.data_len > bounce_.max_bytes()) {
            log_.warn("unaligned cache=none request of {} bytes is larger than the {}-byte bounce buffer", r.data_len,
                      bounce_.max_bytes());
            complete(index, kBlkSIoErr, 0);
            return;
        }
        slot.bounce = bounce_.acquire(r.data_len);
        if (!slot.bounce) {
            if (bounce_.in_use() == bounce_.count()) {
                waiting_for_bounce_ = index; // resumed by reap() when one is released
                return;
            }
            host_error(ENOMEM);
            complete(index, kBlkSIoErr, 0);
            return;
        }
        if (!fill_bounce(index)) {
            complete(index, kBlkSIoErr, 0);
            return;
        }
    } else if (!map_guest_buffers(slot)) {
        complete(index, kBlkSIoErr, 0);
        return;
    }
    submit(index, backends::DiskOp{.kind = r.type == BlockRequestType::In ? backends::DiskOpKind::Read
                                                                          : backends::DiskOpKind::Write,
                                   .offset = r.sector * backends::DiskImage::kSectorSize,
                                   .length = r.data_len,
                                   .iov = slot.iov});
}

bool VirtioBlock::map_guest_buffers(Slot& slot)
{
    slot.iov.clear();
    for (const auto& piece : slot.request.data) {
        // The chain walk checked each buffer lies in RAM; try_slice re-checks and maps it.
        auto host = memory_.try_slice(piece.addr, piece.len);
        if (!host) {
            return false;
        }
        slot.iov.push_back(iovec{host->data(), host->size()});
    }
    return true;
}

bool VirtioBlock::fill_bounce(std::size_t index)
{
    Slot& slot = slots_[index];
    const auto buffer = bounce_.buffer(*slot.bounce, slot.request.data_len);
    slot.iov.assign(1, iovec{buffer.data(), buffer.size()});
    if (slot.request.type != BlockRequestType::Out) {
        return true;
    }
    std::size_t at = 0;
    for (const auto& piece : slot.request.data) {
        if (!memory_.try_read(piece.addr, buffer.subspan(at, piece.len))) {
            return false;
        }
        at += piece.len;
    }
    return true;
}

void VirtioBlock::start_segment(std::size_t index)
{
    Slot& slot = slots_[index];
    const auto& segments = slot.request.segments;
    while (slot.segment < segments.size() && segments[slot.segment].num_sectors == 0) {
        ++slot.segment;
    }
    if (slot.segment == segments.size()) {
        complete(index, kBlkSOk, 0);
        return;
    }
    const BlkDiscardSegment& seg = segments[slot.segment];
    backends::DiskOpKind kind = backends::DiskOpKind::Discard;
    if (slot.request.type == BlockRequestType::WriteZeroes) {
        kind = (seg.flags & kBlkDiscardFUnmap) != 0 ? backends::DiskOpKind::WriteZeroesUnmap
                                                    : backends::DiskOpKind::WriteZeroes;
    }
    submit(index, backends::DiskOp{.kind = kind,
                         .offset = seg.sector * backends::DiskImage::kSectorSize,
                         .length = uint64_t{seg.num_sectors} * backends::DiskImage::kSectorSize,
                         .iov = {}});
}

void VirtioBlock::submit(std::size_t index, const backends::DiskOp& op)
{
    if (!backend_->submit(static_cast<backends::BlockBackend::Tag>(index), op)) {
        spdlog::error("{}: {} backend refused an op with {} in flight", name(), backend_->name(),
                      backend_->in_flight());
        complete(index, kBlkSIoErr, 0);
    }
}

void VirtioBlock::op_done(std::size_t index, int error)
{
    if (index >= slots_.size() || !slots_[index].busy) {
        return;
    }
    Slot& slot = slots_[index];
    if (error != 0) {
        host_error(error);
        complete(index, kBlkSIoErr, 0);
        return;
    }
    const BlockRequest& r = slot.request;
    switch (r.type) {
    case BlockRequestType::Discard:
    case BlockRequestType::WriteZeroes:
        ++slot.segment;
        if (active_ && !broken_) {
            start_segment(index);
        } else {
            release(index);
        }
        return;
    case BlockRequestType::In:
        if (slot.bounce) {
            const auto buffer = bounce_.buffer(*slot.bounce, r.data_len);
            std::size_t at = 0;
            for (const auto& piece : r.data) {
                if (!memory_.try_write(piece.addr, buffer.subspan(at, piece.len))) {
                    complete(index, kBlkSIoErr, 0);
                    return;
                }
                at += piece.len;
            }
        }
        complete(index, kBlkSOk, r.data_len);
        return;
    case BlockRequestType::Out:
    case BlockRequestType::Flush:
    case BlockRequestType::GetId: complete(index, kBlkSOk, 0); return;
    }
}

void VirtioBlock::get_id(std::size_t index)
{
    const BlockRequest& r = slots_[index].request;
    // The serial, zero-padded to 20 bytes, truncated to the driver's buffer (5.2.6).
    std::array<std::byte, kBlkIdBytes> id{};
    const auto& serial = image_.serial();
    std::memcpy(id.data(), serial.data(), std::min(serial.size(), id.size()));
    const std::size_t n = std::min<std::size_t>(r.data_len, id.size());
    std::size_t at = 0;
    for (const auto& piece : r.data) {
        if (at == n) {
            break;
        }
        const std::size_t step = std::min<std::size_t>(piece.len, n - at);
        if (!memory_.try_write(piece.addr, std::span(id).subspan(at, step))) {
            complete(index, kBlkSIoErr, 0);
            return;
        }
        at += step;
    }
    complete(index, kBlkSOk, static_cast<uint32_t>(n));
}

void VirtioBlock::complete(std::size_t index, uint8_t status, uint32_t data_written)
{
    const BlockRequest& r = slots_[index].request;
    if (!broken_ && active_) {
        answer(r.head, r.status, status, data_written);
    }
    release(index);
}

void VirtioBlock::answer(uint16_t head, memory::GuestAddress status, uint8_t code, uint32_t data_written)
{
    if (!memory_.try_write_obj(status, code)) {
        fail("status byte outside guest RAM");
        return;
    }
    // Used length: bytes the device wrote into the chain, the data read and the status (2.7.8).
    if (auto error = queue_->add_used(head, data_written + 1)) {
        fail(to_string(*error));
        return;
    }
    used_added_ = true;
}

void VirtioBlock::release(std::size_t index)
{
    Slot& slot = slots_[index];
    if (slot.bounce) {
        bounce_.release(*slot.bounce);
        slot.bounce.reset();
    }
    slot.busy = false;
    slot.iov.clear();
    free_slots_.push_back(index);
}

} // namespace minivmm::virtio
