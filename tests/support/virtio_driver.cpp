#include "support/virtio_driver.hpp"

#include "arch/x86_64/guest_ram.hpp"
#include "support/support_check.hpp"

#include <poll.h>

#include <algorithm>

namespace minivmm::test {

VirtioDriver::VirtioDriver(uint16_t size, bool event_idx, uint64_t ram)
    : memory(arch::create_guest_ram(ram)), queue(memory, 256), size_(size)
{
    support_check(queue.set_size(size), "queue size refused");
    queue.set_desc_addr(kDesc);
    queue.set_avail_addr(kAvail);
    queue.set_used_addr(kUsed);
    queue.set_indirect_desc(true);
    queue.set_event_idx(event_idx);
    queue.set_ready(true);
    support_check(queue.validate(), "queue does not validate");
    for (uint16_t i = size; i > 0; --i) {
        free_.push_back(static_cast<uint16_t>(i - 1));
    }
}

memory::GuestAddress VirtioDriver::alloc(uint64_t len, uint64_t align)
{
    heap_ = (heap_ + align - 1) / align * align;
    const memory::GuestAddress addr(heap_);
    heap_ += std::max<uint64_t>(len, 1);
    support_check(heap_ <= memory.size(), "the driver's buffer heap is out of guest RAM");
    return addr;
}

uint16_t VirtioDriver::offer(std::span<const Buffer> buffers, bool indirect)
{
    if (indirect) {
        const uint16_t head = take_desc();
        const memory::GuestAddress table = alloc(buffers.size() * 16, 16);
        for (std::size_t i = 0; i < buffers.size(); ++i) {
            const bool last = i + 1 == buffers.size();
            write_desc(table, static_cast<uint16_t>(i), buffers[i], last ? 0 : virtio::kVirtqDescFNext,
                       static_cast<uint16_t>(i + 1));
        }
        memory.write_obj(kDesc + uint64_t{head} * 16, virtio::VirtqDesc{table.value(),
                                                                         static_cast<uint32_t>(buffers.size() * 16),
                                                                         virtio::kVirtqDescFIndirect, 0});
        chains_[head] = {head};
        publish(head);
        return head;
    }
    support_check(free_.size() >= buffers.size(), "not enough free descriptors for the chain");
    std::vector<uint16_t> descs;
    for (std::size_t i = 0; i < buffers.size(); ++i) {
        descs.push_back(take_desc());
    }
    for (std::size_t i = 0; i < buffers.size(); ++i) {
        const bool last = i + 1 == buffers.size();
        write_desc(kDesc, descs[i], buffers[i], last ? 0 : virtio::kVirtqDescFNext, last ? 0 : descs[i + 1]);
    }
    chains_[descs.front()] = descs;
    publish(descs.front());
    return descs.front();
}

uint16_t VirtioDriver::used_idx() const { return memory.read_obj<uint16_t>(kUsed + 2); }

std::vector<VirtioDriver::Used> VirtioDriver::take_used()
{
    std::vector<Used> out;
    const uint16_t idx = used_idx();
    while (last_used_ != idx) {
        const uint64_t slot = last_used_ % size_;
        Used u = memory.read_obj<Used>(kUsed + 4 + slot * 8);
        out.push_back(u);
        auto it = chains_.find(static_cast<uint16_t>(u.id));
        support_check(it != chains_.end(), "the device used a chain the driver did not offer");
        free_.insert(free_.end(), it->second.begin(), it->second.end());
        chains_.erase(it);
        ++last_used_;
    }
    return out;
}

void VirtioDriver::set_used_event(uint16_t idx) { memory.write_obj(kAvail + 4 + uint64_t{size_} * 2, idx); }

uint16_t VirtioDriver::avail_event() const { return memory.read_obj<uint16_t>(kUsed + 4 + uint64_t{size_} * 8); }

uint16_t VirtioDriver::used_flags() const { return memory.read_obj<uint16_t>(kUsed); }

uint16_t VirtioDriver::take_desc()
{
    support_check(!free_.empty(), "no free descriptor");
    const uint16_t d = free_.back();
    free_.pop_back();
    return d;
}

void VirtioDriver::write_desc(memory::GuestAddress table, uint16_t index, const Buffer& b, uint16_t flags,
                              uint16_t next)
{
    const uint16_t all = static_cast<uint16_t>(flags | (b.writable ? virtio::kVirtqDescFWrite : 0));
    memory.write_obj(table + uint64_t{index} * 16, virtio::VirtqDesc{b.addr.value(), b.len, all, next});
}

void VirtioDriver::publish(uint16_t head)
{
    memory.write_obj(kAvail + 4 + uint64_t{static_cast<uint16_t>(avail_idx_ % size_)} * 2, head);
    ++avail_idx_;
    memory.write_obj(kAvail + 2, avail_idx_);
}

bool FakeVirtioContext::watch(int fd, uint32_t events, util::FdPoller::Handler handler)
{
    watches[fd] = Watch{events, std::move(handler)};
    return true;
}

bool FakeVirtioContext::modify_watch(int fd, uint32_t events)
{
    auto it = watches.find(fd);
    if (it == watches.end()) {
        return false;
    }
    it->second.events = events;
    return true;
}

int FakeVirtioContext::poll_once(std::chrono::milliseconds timeout)
{
    std::vector<pollfd> fds;
    for (const auto& [fd, w] : watches) {
        fds.push_back(pollfd{fd, static_cast<short>(w.events), 0});
    }
    if (fds.empty()) {
        return 0;
    }
    const int n = ::poll(fds.data(), fds.size(), static_cast<int>(timeout.count()));
    if (n <= 0) {
        return 0;
    }
    int ran = 0;
    for (const auto& p : fds) {
        auto it = watches.find(p.fd);
        if (p.revents != 0 && it != watches.end()) {
            auto handler = it->second.handler; // may unwatch itself
            handler(static_cast<uint32_t>(p.revents));
            ++ran;
        }
    }
    return ran;
}

} // namespace minivmm::test
