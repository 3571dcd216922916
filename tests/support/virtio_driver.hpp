// Test doubles for virtio devices: a mock driver that builds one split virtqueue in
// heap-backed guest RAM (descriptor free list, direct and indirect chains, used-ring
// reader), and a FakeVirtioContext that records what a device asks of its transport and
// runs the handlers of watched fds when they are ready.
#pragma once

#include "devices/virtio/virtio_device.hpp"
#include "arch/x86_64/guest_ram.hpp"
#include "devices/virtio/virtqueue.hpp"

#include <minivmm/vm_config.hpp>

#include <catch2/catch.hpp>

#include <poll.h>

#include <algorithm>
#include <chrono>
#include <initializer_list>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace minivmm::test {

class VirtioDriver {
public:
    static constexpr memory::GuestAddress kDesc{0x10000};
    static constexpr memory::GuestAddress kAvail{0x20000};
    static constexpr memory::GuestAddress kUsed{0x30000};
    static constexpr uint64_t kHeapStart = 0x100000;

    struct Buffer {
        memory::GuestAddress addr;
        uint32_t len = 0;
        bool writable = false;
    };
    struct Used {
        uint32_t id = 0;
        uint32_t len = 0;
    };

    explicit VirtioDriver(uint16_t size = 16, bool event_idx = false, uint64_t ram = 64 * kMiB)
        : memory(arch::create_guest_ram(ram)), queue(memory, 256), size_(size)
    {
        REQUIRE(queue.set_size(size));
        queue.set_desc_addr(kDesc);
        queue.set_avail_addr(kAvail);
        queue.set_used_addr(kUsed);
        queue.set_indirect_desc(true);
        queue.set_event_idx(event_idx);
        queue.set_ready(true);
        REQUIRE(queue.validate());
        for (uint16_t i = size; i > 0; --i) {
            free_.push_back(static_cast<uint16_t>(i - 1));
        }
    }

    [[nodiscard]] uint16_t size() const { return size_; }
    std::span<virtio::VirtQueue> queues() { return std::span(&queue, 1); }

    // Guest RAM for buffers, from a bump allocator.
    memory::GuestAddress alloc(uint64_t len, uint64_t align = 16)
    {
        heap_ = (heap_ + align - 1) / align * align;
        const memory::GuestAddress addr(heap_);
        heap_ += std::max<uint64_t>(len, 1);
        REQUIRE(heap_ <= memory.size());
        return addr;
    }

    // Writes a chain and makes it available; returns its head. Direct chains take one
    // descriptor per buffer, an indirect chain one descriptor and a table of its own.
    uint16_t offer(std::span<const Buffer> buffers, bool indirect = false)
    {
        if (indirect) {
            REQUIRE(!free_.empty());
            const uint16_t head = take_desc();
            const memory::GuestAddress table = alloc(buffers.size() * 16, 16);
            for (std::size_t i = 0; i < buffers.size(); ++i) {
                const bool last = i + 1 == buffers.size();
                write_desc(table, static_cast<uint16_t>(i), buffers[i], last ? 0 : virtio::kVirtqDescFNext,
                           static_cast<uint16_t>(i + 1));
            }
            memory.write_obj(kDesc + uint64_t{head} * 16,
                             virtio::VirtqDesc{table.value(), static_cast<uint32_t>(buffers.size() * 16),
                                               virtio::kVirtqDescFIndirect, 0});
            chains_[head] = {head};
            publish(head);
            return head;
        }
        REQUIRE(free_.size() >= buffers.size());
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
    uint16_t offer(std::initializer_list<Buffer> buffers, bool indirect = false)
    {
        return offer(std::span(buffers.begin(), buffers.size()), indirect);
    }

    [[nodiscard]] uint16_t used_idx() const { return memory.read_obj<uint16_t>(kUsed + 2); }
    [[nodiscard]] uint16_t avail_idx() const { return avail_idx_; }
    [[nodiscard]] std::size_t free_descriptors() const { return free_.size(); }

    // The used elements added since the last call; their descriptors become free again.
    std::vector<Used> take_used()
    {
        std::vector<Used> out;
        const uint16_t idx = used_idx();
        while (last_used_ != idx) {
            const uint64_t slot = last_used_ % size_;
            Used u = memory.read_obj<Used>(kUsed + 4 + slot * 8);
            out.push_back(u);
            auto it = chains_.find(static_cast<uint16_t>(u.id));
            REQUIRE(it != chains_.end());
            free_.insert(free_.end(), it->second.begin(), it->second.end());
            chains_.erase(it);
            ++last_used_;
        }
        return out;
    }

    void set_used_event(uint16_t idx) { memory.write_obj(kAvail + 4 + uint64_t{size_} * 2, idx); }
    [[nodiscard]] uint16_t avail_event() const { return memory.read_obj<uint16_t>(kUsed + 4 + uint64_t{size_} * 8); }
    [[nodiscard]] uint16_t used_flags() const { return memory.read_obj<uint16_t>(kUsed); }

    memory::GuestMemory memory;
    virtio::VirtQueue queue;

private:
    uint16_t take_desc()
    {
        REQUIRE(!free_.empty());
        const uint16_t d = free_.back();
        free_.pop_back();
        return d;
    }
    void write_desc(memory::GuestAddress table, uint16_t index, const Buffer& b, uint16_t flags, uint16_t next)
    {
        const uint16_t all = static_cast<uint16_t>(flags | (b.writable ? virtio::kVirtqDescFWrite : 0));
        memory.write_obj(table + uint64_t{index} * 16, virtio::VirtqDesc{b.addr.value(), b.len, all, next});
    }
    void publish(uint16_t head)
    {
        memory.write_obj(kAvail + 4 + uint64_t{static_cast<uint16_t>(avail_idx_ % size_)} * 2, head);
        ++avail_idx_;
        memory.write_obj(kAvail + 2, avail_idx_);
    }

    uint16_t size_;
    uint64_t heap_ = kHeapStart;
    uint16_t avail_idx_ = 0;
    uint16_t last_used_ = 0;
    std::vector<uint16_t> free_;
    std::map<uint16_t, std::vector<uint16_t>> chains_;
};

class FakeVirtioContext final : public virtio::VirtioContext {
public:
    struct Watch {
        uint32_t events = 0;
        util::FdPoller::Handler handler;
    };

    void notify_used(unsigned queue) override { notified.push_back(queue); }
    void config_changed() override { ++config_changes; }
    void device_error(std::string_view why) override { errors.emplace_back(why); }
    bool watch(int fd, uint32_t events, util::FdPoller::Handler handler) override
    {
        watches[fd] = Watch{events, std::move(handler)};
        return true;
    }
    bool modify_watch(int fd, uint32_t events) override
    {
        auto it = watches.find(fd);
        if (it == watches.end()) {
            return false;
        }
        it->second.events = events;
        return true;
    }
    void unwatch(int fd) override { watches.erase(fd); }

    // Waits up to `timeout` for a watched fd to be ready and runs the handlers of those
    // that are; returns how many ran.
    int poll_once(std::chrono::milliseconds timeout)
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

    std::vector<unsigned> notified;
    std::vector<std::string> errors;
    unsigned config_changes = 0;
    std::map<int, Watch> watches;
};

} // namespace minivmm::test
