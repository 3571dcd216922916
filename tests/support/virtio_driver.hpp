// Test doubles for virtio device models, shared by the unit tests and the fuzz targets: a
// mock driver that builds one split virtqueue in guest RAM of its own (descriptor free list,
// direct and indirect chains, used-ring reader), and a FakeVirtioContext that records what a
// device asks of its transport and runs the handlers of watched fds when they are ready.
#pragma once

#include "devices/virtio/virtio_device.hpp"
#include "devices/virtio/virtqueue.hpp"
#include "memory/guest_memory.hpp"

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace minivmm::test {

class VirtioDriver {
public:
    static constexpr memory::GuestAddress kDesc{0x10000};
    static constexpr memory::GuestAddress kAvail{0x20000};
    static constexpr memory::GuestAddress kUsed{0x30000};
    static constexpr uint64_t kHeapStart = 0x100000;
    static constexpr uint64_t kDefaultRam = 64ULL << 20;

    struct Buffer {
        memory::GuestAddress addr;
        uint32_t len = 0;
        bool writable = false;
    };
    struct Used {
        uint32_t id = 0;
        uint32_t len = 0;
    };

    // SupportError if the queue cannot be set up as asked.
    explicit VirtioDriver(uint16_t size = 16, bool event_idx = false, uint64_t ram = kDefaultRam);

    [[nodiscard]] uint16_t size() const { return size_; }
    std::span<virtio::VirtQueue> queues() { return std::span(&queue, 1); }

    // Guest RAM for buffers, from a bump allocator (SupportError when RAM runs out).
    memory::GuestAddress alloc(uint64_t len, uint64_t align = 16);

    // Writes a chain and makes it available; returns its head. Direct chains take one
    // descriptor per buffer, an indirect chain one descriptor and a table of its own.
    // SupportError when there are not enough free descriptors.
    uint16_t offer(std::span<const Buffer> buffers, bool indirect = false);
    uint16_t offer(std::initializer_list<Buffer> buffers, bool indirect = false)
    {
        return offer(std::span(buffers.begin(), buffers.size()), indirect);
    }

    [[nodiscard]] uint16_t used_idx() const;
    [[nodiscard]] uint16_t avail_idx() const { return avail_idx_; }
    [[nodiscard]] std::size_t free_descriptors() const { return free_.size(); }

    // The used elements added since the last call; their descriptors become free again.
    // SupportError for a used id that is not the head of an outstanding chain.
    std::vector<Used> take_used();

    void set_used_event(uint16_t idx);
    [[nodiscard]] uint16_t avail_event() const;
    [[nodiscard]] uint16_t used_flags() const;

    memory::GuestMemory memory;
    virtio::VirtQueue queue;

private:
    uint16_t take_desc();
    void write_desc(memory::GuestAddress table, uint16_t index, const Buffer& b, uint16_t flags, uint16_t next);
    void publish(uint16_t head);

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
    bool watch(int fd, uint32_t events, util::FdPoller::Handler handler) override;
    bool modify_watch(int fd, uint32_t events) override;
    void unwatch(int fd) override { watches.erase(fd); }

    // Waits up to `timeout` for a watched fd to be ready and runs the handlers of those
    // that are; returns how many ran.
    int poll_once(std::chrono::milliseconds timeout);

    std::vector<unsigned> notified;
    std::vector<std::string> errors;
    unsigned config_changes = 0;
    std::map<int, Watch> watches;
};

} // namespace minivmm::test
