// virtio-blk device: virtio 1.2 sections 5.2.4 (configuration), 5.2.5 (initialisation) and
// 5.2.6 (operation): the queue (popping, notifications, completions), reset and shutdown.
// Each request's execution is in virtio_block_requests.cpp.
#include "devices/virtio/block/virtio_block.hpp"

#include <minivmm/error.hpp>

#include "util/sys_error.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace minivmm::virtio {

VirtioBlock::VirtioBlock(const backends::DiskOptions& options, memory::GuestMemory& memory,
                         backends::BlockBackendKind backend)
    : memory_(memory), image_(backends::DiskImage::open(options)), log_(name()), bounce_(kBounceBuffers, kMaxBounceBytes),
      backend_(backends::make_disk_backend(image_, kQueueSize, backend))
{
    init();
}

VirtioBlock::VirtioBlock(backends::DiskImage image, std::unique_ptr<backends::BlockBackend> backend,
                         memory::GuestMemory& memory)
    : memory_(memory), image_(std::move(image)), log_(name()), bounce_(kBounceBuffers, kMaxBounceBytes), backend_(std::move(backend))
{
    if (!backend_) {
        throw HostError(fmt::format("virtio-blk {}: no disk backend", image_.path().string()));
    }
    init();
}

void VirtioBlock::init()
{
    slots_.resize(std::min<std::size_t>(backend_->capacity(), kQueueSize));
    for (std::size_t i = slots_.size(); i > 0; --i) {
        free_slots_.push_back(i - 1);
    }
    completions_.reserve(slots_.size());
    spdlog::debug("{}: {} sectors{}{}, {} I/O", name(), image_.sectors(), image_.readonly() ? ", read-only" : "",
                  image_.direct() ? ", O_DIRECT" : "", backend_->name());
}

VirtioBlock::~VirtioBlock() = default;

uint64_t VirtioBlock::bytes_held() const
{
    static_assert(sizeof(Slot) <= kSlotBytes);
    static_assert(sizeof(DescriptorBuffer) == 16 && sizeof(iovec) == 16 && sizeof(BlkDiscardSegment) == 16);
    static_assert(sizeof(backends::BlockBackend::Completion) <= 8);
    uint64_t bytes = slots_.capacity() * sizeof(Slot) + free_slots_.capacity() * sizeof(std::size_t) +
                     completions_.capacity() * sizeof(backends::BlockBackend::Completion) + bounce_.bytes_held();
    for (const Slot& slot : slots_) {
        bytes += slot.request.data.capacity() * sizeof(DescriptorBuffer) +
                 slot.request.segments.capacity() * sizeof(BlkDiscardSegment) + slot.iov.capacity() * sizeof(iovec);
    }
    return bytes;
}

std::string VirtioBlock::name() const { return "virtio-blk " + image_.path().string(); }

uint64_t VirtioBlock::device_features() const
{
    return kBlkFSegMax | kBlkFBlkSize | kBlkFFlush | kBlkFDiscard | kBlkFWriteZeroes |
           (image_.readonly() ? kBlkFRo : 0);
}

void VirtioBlock::read_config(uint64_t offset, std::span<uint8_t> data)
{
    BlkConfig config{};
    config.capacity = image_.sectors();
    config.seg_max = kSegMax;
    config.blk_size = backends::DiskImage::kSectorSize;
    config.max_discard_sectors = kMaxDiscardSectors;
    config.max_discard_seg = kMaxDiscardSeg;
    config.discard_sector_alignment = kDiscardSectorAlignment;
    config.max_write_zeroes_sectors = kMaxWriteZeroesSectors;
    config.max_write_zeroes_seg = kMaxWriteZeroesSeg;
    config.write_zeroes_may_unmap = 1;
    const auto bytes = std::as_bytes(std::span(&config, 1));
    if (offset >= bytes.size()) {
        return;
    }
    const auto n = std::min<std::size_t>(data.size(), bytes.size() - offset);
    std::memcpy(data.data(), bytes.data() + offset, n);
}

void VirtioBlock::write_config(uint64_t /*offset*/, std::span<const uint8_t> /*data*/)
{
    // Every field is read-only without VIRTIO_BLK_F_CONFIG_WCE (5.2.4).
}

void VirtioBlock::attach(VirtioContext& context) { context_ = &context; }

void VirtioBlock::activate(uint64_t features, std::span<VirtQueue> queues)
{
    if (context_ == nullptr || queues.size() != 1) {
        spdlog::error("{}: activated without a context or with {} queues", name(), queues.size());
        return;
    }
    features_ = features;
    queue_ = &queues[0];
    limits_ = BlockLimits{
        .capacity_sectors = image_.sectors(),
        .readonly = image_.readonly(),
        .discard = (features & kBlkFDiscard) != 0,
        .write_zeroes = (features & kBlkFWriteZeroes) != 0,
        .seg_max = kSegMax,
        .max_discard_sectors = kMaxDiscardSectors,
        .max_discard_seg = kMaxDiscardSeg,
        .max_write_zeroes_sectors = kMaxWriteZeroesSectors,
        .max_write_zeroes_seg = kMaxWriteZeroesSeg,
    };
    active_ = true;
    broken_ = false;
    if (const int fd = backend_->completion_fd(); fd >= 0 && !watching_) {
        if (!context_->watch(fd, EPOLLIN, [this](uint32_t) { run(); })) {
            fail("cannot watch the disk completion eventfd");
            return;
        }
        watching_ = true;
    }
}

void VirtioBlock::queue_notify(unsigned index)
{
    if (index == 0) {
        run();
    }
}

void VirtioBlock::run()
{
    if (!active_) {
        return;
    }
    // Reaping frees slots for popping; submitting can finish ops at once (synchronous
    // backend): go round until neither makes progress.
    for (bool progress = true; progress;) {
        progress = reap();
        progress = pop_requests() || progress;
        backend_->commit(); // everything popped in this turn goes to the disk in one submit
    }
    if (used_added_) {
        used_added_ = false;
        context_->notify_used(0);
    }
}

bool VirtioBlock::reap()
{
    completions_.clear();
    backend_->reap(completions_);
    for (const auto& c : completions_) {
        op_done(c.tag, c.error);
    }
    if (waiting_for_bounce_ && bounce_.in_use() < bounce_.count()) {
        const std::size_t slot = *waiting_for_bounce_;
        waiting_for_bounce_.reset();
        start(slot);
    }
    return !completions_.empty();
}

bool VirtioBlock::can_take() const
{
    return active_ && !broken_ && queue_ != nullptr && !free_slots_.empty() && !waiting_for_bounce_;
}

void VirtioBlock::enable_notifications(bool enable)
{
    // With EVENT_IDX, avail_event = next_avail asks for a kick at the next request (2.7.10).
    const bool ok = (features_ & kFEventIdx) != 0 ? (!enable || queue_->set_avail_event(queue_->next_avail()))
                                                   : queue_->set_notifications_suppressed(!enable);
    if (!ok) {
        fail("used ring outside guest RAM");
    }
}

bool VirtioBlock::pop_requests()
{
    if (!can_take()) {
        return false;
    }
    bool any = false;
    enable_notifications(false);
    for (;;) {
        while (can_take()) {
            auto chain = queue_->pop();
            if (!chain) {
                break;
            }
            any = true;
            take(*chain);
        }
        if (queue_->error()) {
            fail(to_string(*queue_->error()));
            return any;
        }
        if (!can_take()) {
            // Out of slots or bounce buffers: stay quiet until completions free some.
            return any;
        }
        // Queue empty: ask for notifications again, then look once more for a request the
        // driver added before it could see that (2.7.10).
        enable_notifications(true);
        if (broken_) {
            return any;
        }
        auto chain = queue_->pop();
        if (!chain) {
            if (queue_->error()) {
                fail(to_string(*queue_->error()));
            }
            return any;
        }
        enable_notifications(false);
        any = true;
        take(*chain);
    }
}

void VirtioBlock::settle()
{
    // Finish what is in flight and the steps it leads to (further discard segments, a
    // request waiting for a bounce buffer); pop nothing new. Inactive (reset): the
    // waiting request is dropped and op_done() starts nothing.
    for (;;) {
        completions_.clear();
        backend_->drain(completions_);
        for (const auto& c : completions_) {
            op_done(c.tag, c.error);
        }
        if (waiting_for_bounce_) {
            const std::size_t slot = *waiting_for_bounce_;
            waiting_for_bounce_.reset();
            if (active_ && !broken_) {
                start(slot);
            } else {
                release(slot);
            }
        }
        if (completions_.empty() && backend_->in_flight() == 0 && !waiting_for_bounce_) {
            return;
        }
    }
}

void VirtioBlock::reset()
{
    // Completions arriving now are dropped: with active_ false complete() writes nothing.
    active_ = false;
    settle();
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        if (slots_[i].busy) {
            release(i);
        }
    }
    if (watching_) {
        context_->unwatch(backend_->completion_fd());
        watching_ = false;
    }
    queue_ = nullptr;
    features_ = 0;
    broken_ = false;
    used_added_ = false;
    log_.debug("reset; requests so far IN {} OUT {} FLUSH {} GET_ID {} DISCARD {} WRITE_ZEROES {}", type_counts_[0],
               type_counts_[1], type_counts_[2], type_counts_[3], type_counts_[4], type_counts_[5]);
}

void VirtioBlock::add_syscalls(util::SeccompPolicy& policy) const
{
    backend_->add_syscalls(policy);
    policy.allow({util::ThreadKind::Main}, {"fdatasync"});
}

std::optional<std::string> VirtioBlock::quiesce()
{
    settle();
    if (used_added_ && active_) {
        used_added_ = false;
        context_->notify_used(0);
    }
    if (image_.readonly()) {
        return std::nullopt;
    }
    // A flush through the backend (fdatasync; for qcow2 the metadata write-back first). Its
    // tag is no slot's, so op_done() ignores its completion.
    const auto tag = static_cast<backends::BlockBackend::Tag>(slots_.size());
    if (!backend_->submit(tag, backends::DiskOp{.kind = backends::DiskOpKind::Flush, .offset = 0, .length = 0, .iov = {}})) {
        return fmt::format("disk '{}': cannot flush at shutdown: the {} backend is full; what the guest wrote may "
                           "not be on the disk",
                           image_.path().string(), backend_->name());
    }
    backend_->commit();
    completions_.clear();
    backend_->drain(completions_);
    int error = 0;
    for (const auto& c : completions_) {
        if (c.tag == tag) {
            error = c.error;
        } else {
            op_done(c.tag, c.error);
        }
    }
    // And the top file's fdatasync from this thread: io_uring reports a failed fsync once,
    // in its completion; this call sees any error the file still holds.
    if (error == 0 && ::fdatasync(image_.fd()) != 0) {
        error = errno;
    }
    if (error == 0) {
        return std::nullopt;
    }
    return fmt::format("disk '{}': fdatasync at shutdown failed: {}; what the guest wrote may not be on the disk",
                       image_.path().string(), util::errno_text(error));
}

void VirtioBlock::fail(std::string_view why)
{
    if (broken_) {
        return;
    }
    broken_ = true;
    if (context_ != nullptr) {
        context_->device_error(why);
    }
}

void VirtioBlock::guest_error(BlockRequestError why)
{
    const auto bit = static_cast<std::size_t>(why);
    if (!warned_.test(bit)) {
        warned_.set(bit);
        log_.warn("guest error: {} (reported once)", to_string(why));
    }
}

void VirtioBlock::host_error(int error)
{
    if (std::find(warned_errnos_.begin(), warned_errnos_.end(), error) == warned_errnos_.end()) {
        warned_errnos_.push_back(error);
        spdlog::warn("{}: disk I/O failed: {}; the guest gets an I/O error (reported once)", name(),
                     std::strerror(error));
    }
}

} // namespace minivmm::virtio
