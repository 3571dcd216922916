// virtio-fs device (virtio 1.2 section 5.11, device ID 26): one shared host directory, served by
// minivmm's own FUSE server (backends/fs/fuse_server.hpp), no external daemon. Queues: the
// hiprio queue 0 (FORGET, BATCH_FORGET, INTERRUPT) and one request queue 1 (what Linux drivers
// up to 6.x use); config: the mount tag and num_request_queues. No feature bits
// (VIRTIO_FS_F_NOTIFICATION, the notification queue, is not offered) and no DAX window (the
// transport reports no shared memory region, so the driver maps nothing).
//
// Requests are served off the vCPU and I/O threads: the I/O thread (notified through the
// queue's ioeventfd) pops each chain, maps its readable and writable parts as iovecs into guest
// RAM, and hands it to kWorkers threads (fs_workers.hpp), several in flight at once; a worker
// writes the reply straight into the guest's buffers and queues the completion, which the I/O
// thread puts on the used ring (an eventfd wakes it), so only the I/O thread touches the rings.
// A SETLKW that must wait is parked by the server and completes through the same path later.
//
// Host memory a guest can make the device hold, with Q = kQueueSize for both queues: at most 2Q
// requests in flight (a chain is popped only into a free slot), each holding the iovecs of its
// at most Q buffers: 2Q x Q x 16 bytes = 2 MiB, plus one Q x 16 chain walk at a time; the
// server's inodes and open files are bounded by the share's limits (FsOptions).
#pragma once

#include "backends/fs/fs_options.hpp"
#include "backends/fs/fuse_server.hpp"
#include "devices/virtio/descriptor_chain.hpp"
#include "devices/virtio/fs/fs_workers.hpp"
#include "devices/virtio/virtio_device.hpp"
#include "memory/guest_memory.hpp"
#include "util/unique_fd.hpp"

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace minivmm::virtio {

inline constexpr uint32_t kDeviceIdFs = 26;

// struct virtio_fs_config (5.11.4): the tag is UTF-8, NUL-padded, not NUL-terminated when 36 bytes long.
inline constexpr size_t kFsTagMax = 36;
struct FsConfigSpace {
    char tag[kFsTagMax];
    uint32_t num_request_queues;
};
static_assert(sizeof(FsConfigSpace) == 40);

class VirtioFs final : public VirtioDevice {
public:
    static constexpr unsigned kHiprioQueue = 0;
    static constexpr unsigned kRequestQueue = 1;
    static constexpr uint16_t kQueueSize = 256;
    static constexpr unsigned kWorkers = 4;

    // Opens the share (ConfigError naming the directory when it cannot be served; the tag
    // must be 1-36 bytes, ConfigError otherwise).
    VirtioFs(memory::GuestMemory& memory, std::string tag, backends::FsOptions options, unsigned workers = kWorkers);
    ~VirtioFs() override;
    VirtioFs(const VirtioFs&) = delete;
    VirtioFs& operator=(const VirtioFs&) = delete;

    [[nodiscard]] uint32_t device_id() const override { return kDeviceIdFs; }
    [[nodiscard]] std::string name() const override { return "virtio-fs " + tag_; }
    [[nodiscard]] uint64_t device_features() const override { return 0; }
    [[nodiscard]] std::vector<uint16_t> queue_max_sizes() const override { return {kQueueSize, kQueueSize}; }
    void read_config(uint64_t offset, std::span<uint8_t> data) override;
    void write_config(uint64_t offset, std::span<const uint8_t> data) override;
    void attach(VirtioContext& context) override;
    void activate(uint64_t features, std::span<VirtQueue> queues) override;
    void queue_notify(unsigned index) override;
    // Drops requests not started, waits for those running, forgets the guest's state: when
    // it returns no worker touches guest memory, and the next request must be INIT.
    void reset() override;

    [[nodiscard]] backends::FuseServer& server() { return *server_; }
    [[nodiscard]] size_t requests_in_flight() const;

private:
    // A request between pop and used ring.
    struct Slot {
        bool busy = false;
        unsigned queue = 0;
        uint16_t head = 0;
        std::vector<iovec> in;  // the chain's device-readable part
        std::vector<iovec> out; // its device-writable part
    };
    struct Completion {
        size_t slot = 0;
        uint32_t written = 0;
    };

    void serve(size_t slot);                      // on a worker
    void complete(size_t slot, uint32_t written); // on any thread
    void on_completions();                        // on the I/O thread
    void pop_requests(unsigned queue);
    [[nodiscard]] bool take(unsigned queue, const DescriptorChain& chain);
    void release(size_t slot);
    void fail(std::string_view why);

    memory::GuestMemory& memory_;
    std::string tag_;
    std::unique_ptr<backends::FuseServer> server_;
    util::UniqueFd completion_fd_;
    std::vector<Slot> slots_;
    std::vector<size_t> free_slots_;
    std::vector<DescriptorBuffer> chain_storage_;

    mutable std::mutex completions_mutex_;
    std::vector<Completion> completions_;
    std::vector<Completion> completing_; // the I/O thread's copy

    VirtioContext* context_ = nullptr;
    std::span<VirtQueue> queues_;
    bool active_ = false;
    bool broken_ = false;
    bool watching_ = false;
    std::unique_ptr<FsWorkers> workers_; // last: its threads stop before the rest goes
};

} // namespace minivmm::virtio
