// virtio-fs device: virtio 1.2 sections 5.11.4 (configuration), 5.11.5 (initialisation) and
// 5.11.6 (operation): popping requests, handing them to the workers, completing them.
#include "devices/virtio/fs/virtio_fs.hpp"

#include "devices/virtio/net/chain_io.hpp"
#include "util/sys_error.hpp"

#include <minivmm/error.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>

namespace minivmm::virtio {

VirtioFs::VirtioFs(memory::GuestMemory& memory, std::string tag, backends::FsOptions options, unsigned workers)
    : memory_(memory), tag_(std::move(tag))
{
    if (tag_.empty() || tag_.size() > kFsTagMax) {
        throw ConfigError(fmt::format("virtio-fs tag '{}' must be 1 to {} bytes", tag_, kFsTagMax));
    }
    server_ = std::make_unique<backends::FuseServer>(std::move(options), name(),
                                                     [this](uint64_t token, uint32_t written) {
                                                         complete(static_cast<size_t>(token), written);
                                                     });
    completion_fd_ = util::UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!completion_fd_) {
        util::throw_sys_error("eventfd (virtio-fs completions)");
    }
    slots_.resize(2 * size_t{kQueueSize});
    for (size_t i = slots_.size(); i > 0; --i) {
        free_slots_.push_back(i - 1);
    }
    completions_.reserve(slots_.size());
    completing_.reserve(slots_.size());
    workers_ = std::make_unique<FsWorkers>(std::max(1U, workers), &backends::FuseServer::prepare_thread,
                                           [this](size_t slot) { serve(slot); });
    spdlog::debug("{}: sharing {}{}, {} worker threads", name(), server_->fs().options().root.string(),
                  server_->fs().options().readonly ? " read-only" : "", workers_->threads());
}

VirtioFs::~VirtioFs()
{
    // Workers first, then the lock waiters: nothing may complete into what goes next.
    workers_.reset();
    server_->reset();
}

void VirtioFs::read_config(uint64_t offset, std::span<uint8_t> data)
{
    FsConfigSpace config{};
    std::memcpy(config.tag, tag_.data(), tag_.size());
    config.num_request_queues = 1;
    const auto bytes = std::as_bytes(std::span(&config, 1));
    if (offset >= bytes.size()) {
        return;
    }
    const auto n = std::min<std::size_t>(data.size(), bytes.size() - offset);
    std::memcpy(data.data(), bytes.data() + offset, n);
}

void VirtioFs::write_config(uint64_t /*offset*/, std::span<const uint8_t> /*data*/)
{
    // Both fields are read-only (5.11.4).
}

void VirtioFs::attach(VirtioContext& context) { context_ = &context; }

void VirtioFs::activate(uint64_t /*features*/, std::span<VirtQueue> queues)
{
    if (context_ == nullptr || queues.size() != 2) {
        spdlog::error("{}: activated without a context or with {} queues", name(), queues.size());
        return;
    }
    queues_ = queues;
    broken_ = false;
    if (!watching_) {
        if (!context_->watch(completion_fd_.get(), EPOLLIN, [this](uint32_t) { on_completions(); })) {
            fail("cannot watch the completion eventfd");
            return;
        }
        watching_ = true;
    }
    active_ = true;
}

void VirtioFs::queue_notify(unsigned index)
{
    if (index < queues_.size()) {
        pop_requests(index);
    }
}

void VirtioFs::pop_requests(unsigned queue)
{
    if (!active_ || broken_ || !queues_[queue].ready()) {
        return;
    }
    VirtQueue& q = queues_[queue];
    do {
        while (!free_slots_.empty()) {
            auto chain = q.pop(chain_storage_);
            if (!chain) {
                break;
            }
            if (!take(queue, *chain)) {
                return;
            }
            chain_storage_ = std::move(*chain).take_storage();
        }
        if (q.error() || free_slots_.empty()) {
            // A protocol error: the transport resets us. Out of slots: completions pop again.
            return;
        }
    } while (q.rearm_notifications());
}

bool VirtioFs::take(unsigned queue, const DescriptorChain& chain)
{
    const size_t index = free_slots_.back();
    Slot& slot = slots_[index];
    slot.in.clear();
    slot.out.clear();
    // A chain holds at most the queue size of buffers, far fewer than IOV_MAX.
    if (!append_iovecs(memory_, chain, false, 0, slot.in, IOV_MAX) ||
        !append_iovecs(memory_, chain, true, 0, slot.out, IOV_MAX)) {
        fail("a request buffer is outside guest RAM");
        return false;
    }
    free_slots_.pop_back();
    slot.busy = true;
    slot.queue = queue;
    slot.head = chain.head();
    workers_->submit(index);
    return true;
}

void VirtioFs::serve(size_t index)
{
    const Slot& slot = slots_[index];
    const auto written = server_->handle(backends::FuseRequest{slot.in, slot.out}, index);
    if (written) {
        complete(index, *written);
    }
}

void VirtioFs::complete(size_t slot, uint32_t written)
{
    bool wake = false;
    {
        std::lock_guard lock(completions_mutex_);
        wake = completions_.empty();
        completions_.push_back({slot, written});
    }
    if (wake) {
        const uint64_t one = 1;
        [[maybe_unused]] const ssize_t n = ::write(completion_fd_.get(), &one, sizeof(one));
    }
}

void VirtioFs::on_completions()
{
    uint64_t count = 0;
    [[maybe_unused]] const ssize_t n = ::read(completion_fd_.get(), &count, sizeof(count));
    {
        std::lock_guard lock(completions_mutex_);
        completing_.swap(completions_);
    }
    if (!active_) {
        completing_.clear();
        return;
    }
    std::array<bool, 2> used{};
    for (const auto& c : completing_) {
        Slot& slot = slots_[c.slot];
        if (!slot.busy) {
            continue;
        }
        // An error here (head out of range, ring outside RAM) is the transport's to report.
        static_cast<void>(queues_[slot.queue].add_used(slot.head, c.written));
        used[slot.queue] = true;
        release(c.slot);
    }
    completing_.clear();
    for (unsigned q = 0; q < used.size(); ++q) {
        if (used[q]) {
            context_->notify_used(q);
        }
    }
    pop_requests(kRequestQueue);
    pop_requests(kHiprioQueue);
}

void VirtioFs::release(size_t index)
{
    Slot& slot = slots_[index];
    slot.busy = false;
    slot.in.clear();
    slot.out.clear();
    free_slots_.push_back(index);
}

void VirtioFs::reset()
{
    active_ = false;
    // Jobs not started are dropped; running ones finish; then parked lock requests go.
    static_cast<void>(workers_->cancel());
    server_->reset();
    {
        std::lock_guard lock(completions_mutex_);
        completions_.clear();
    }
    uint64_t count = 0;
    [[maybe_unused]] const ssize_t n = ::read(completion_fd_.get(), &count, sizeof(count));
    free_slots_.clear();
    for (size_t i = slots_.size(); i > 0; --i) {
        Slot& slot = slots_[i - 1];
        slot.busy = false;
        // Storage a hostile guest made large goes; the common case keeps its capacity.
        if (slot.in.capacity() > 16 || slot.out.capacity() > 16) {
            slot.in = {};
            slot.out = {};
        }
        free_slots_.push_back(i - 1);
    }
    chain_storage_ = {};
    if (watching_) {
        context_->unwatch(completion_fd_.get());
        watching_ = false;
    }
    queues_ = {};
    broken_ = false;
}

size_t VirtioFs::requests_in_flight() const { return slots_.size() - free_slots_.size(); }

void VirtioFs::fail(std::string_view why)
{
    if (broken_) {
        return;
    }
    broken_ = true;
    if (context_ != nullptr) {
        context_->device_error(why);
    }
}

} // namespace minivmm::virtio
