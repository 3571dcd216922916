// A FUSE client for tests and fuzz targets: it drives a VirtioFs device through the virtio-mmio
// transport as Linux's virtio_fs driver does (the request's header and arguments in readable
// descriptors, room for the reply in writable ones, FORGETs on the hiprio queue), with its
// rings in guest RAM of its own, and waits for the device's worker threads to answer. Requests
// may be in flight several at once and complete in any order.
#pragma once

#include "backends/fs/fs_options.hpp"
#include "backends/fs/fuse_wire.hpp"
#include "devices/virtio/fs/virtio_fs.hpp"
#include "support/virtio_mmio_driver.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace minivmm::test {

// How a request is laid out in descriptors: readable bytes cut into pieces of `in_piece`
// (0: the header in one descriptor and the arguments in another, as Linux does), the reply's
// room likewise; `indirect` puts the chain in an indirect table.
struct FuseShape {
    size_t in_piece = 0;
    size_t out_piece = 0;
    bool indirect = false;
};

class FuseClient {
public:
    static constexpr uint16_t kQueueSize = 128;
    static constexpr uint64_t kDefaultRam = 64ULL << 20;
    static constexpr uint64_t kHeapStart = 0x20'0000;

    struct Reply {
        uint32_t used_len = 0; // what the device put in the used ring
        int error = 0;         // -fuse_out_header.error (0: success)
        uint32_t header_len = 0;
        uint64_t unique = 0;
        std::vector<std::byte> payload; // the bytes after the header

        template <typename T>
        [[nodiscard]] T as() const;
        [[nodiscard]] std::string text() const
        {
            // (an empty payload's data() may be null, which memcpy may not be given)
            return std::string(reinterpret_cast<const char*>(payload.data()), payload.size());
        }
    };

    using Shape = FuseShape;

    // A device serving `options` behind a transport, brought up with both queues; with
    // `seccomp`, its server threads run under those allow-lists (VirtioFs's constructor).
    explicit FuseClient(backends::FsOptions options, std::string tag = "test", uint64_t ram = kDefaultRam,
                        unsigned workers = 2, uint64_t extra_features = 0,
                        const util::SeccompPolicy* seccomp = nullptr);

    // Resets the device as a driver would (status 0: everything in flight is dropped) and
    // brings it up again, before INIT.
    void restart();

    // INIT with the kernel's flags of Linux 6.1 (or `flags`); SupportError unless it succeeds.
    Reply init(uint32_t minor = FUSE_KERNEL_MINOR_VERSION, uint32_t flags = 0);

    // Any request; the reply has room for `out_size` bytes after the header.
    uint64_t submit(uint32_t opcode, uint64_t nodeid, std::span<const std::byte> args, uint32_t out_size,
                    unsigned queue = virtio::VirtioFs::kRequestQueue, const Shape& shape = {});
    // Exactly these bytes as the readable part and `out_size` writable bytes (a malformed
    // request); out_size 0 gives no writable descriptor at all.
    uint64_t submit_raw(std::span<const std::byte> in, uint32_t out_size,
                        unsigned queue = virtio::VirtioFs::kRequestQueue, const Shape& shape = {});
    // Waits for the request's reply; SupportError after `timeout`.
    Reply wait(uint64_t ticket, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // Whether the request has been answered yet (runs the I/O thread's part once).
    [[nodiscard]] bool answered(uint64_t ticket);
    Reply call(uint32_t opcode, uint64_t nodeid, std::span<const std::byte> args, uint32_t out_size,
               const Shape& shape = {})
    {
        return wait(submit(opcode, nodeid, args, out_size, virtio::VirtioFs::kRequestQueue, shape));
    }

    // --- Typed requests (the reply's payload is the fuse_*_out of the opcode) ---
    Reply lookup(uint64_t parent, std::string_view name);
    void forget(uint64_t nodeid, uint64_t nlookup);
    Reply getattr(uint64_t nodeid);
    Reply setattr(uint64_t nodeid, const fuse_setattr_in& in);
    Reply mkdir(uint64_t parent, std::string_view name, uint32_t mode);
    Reply mknod(uint64_t parent, std::string_view name, uint32_t mode, uint32_t rdev = 0);
    Reply symlink(uint64_t parent, std::string_view name, std::string_view target);
    Reply readlink(uint64_t nodeid);
    Reply link(uint64_t nodeid, uint64_t new_parent, std::string_view name);
    Reply unlink(uint64_t parent, std::string_view name);
    Reply rmdir(uint64_t parent, std::string_view name);
    Reply rename(uint64_t parent, std::string_view name, uint64_t new_parent, std::string_view new_name,
                 uint32_t flags = 0);
    Reply open(uint64_t nodeid, uint32_t flags);
    Reply opendir(uint64_t nodeid);
    Reply create(uint64_t parent, std::string_view name, uint32_t flags, uint32_t mode);
    Reply read(uint64_t fh, uint64_t offset, uint32_t size);
    Reply write(uint64_t fh, uint64_t offset, std::span<const std::byte> data);
    Reply write(uint64_t fh, uint64_t offset, std::string_view text)
    {
        return write(fh, offset, std::as_bytes(std::span(text.data(), text.size())));
    }
    Reply flush(uint64_t fh);
    Reply release(uint64_t fh, bool directory = false);
    Reply fsync(uint64_t fh, bool datasync = false, bool directory = false);
    Reply readdir(uint64_t fh, uint64_t offset, uint32_t size, bool plus = false);
    Reply statfs(uint64_t nodeid);
    Reply access(uint64_t nodeid, uint32_t mask, uint32_t uid = 0, uint32_t gid = 0);
    Reply getxattr(uint64_t nodeid, std::string_view name, uint32_t size);
    Reply listxattr(uint64_t nodeid, uint32_t size);
    Reply setxattr(uint64_t nodeid, std::string_view name, std::string_view value, uint32_t flags = 0);
    Reply removexattr(uint64_t nodeid, std::string_view name);
    Reply lseek(uint64_t fh, uint64_t offset, uint32_t whence);
    Reply fallocate(uint64_t fh, uint64_t offset, uint64_t length, uint32_t mode = 0);
    Reply copy_file_range(uint64_t fh_in, uint64_t off_in, uint64_t nodeid_out, uint64_t fh_out, uint64_t off_out,
                          uint64_t len);
    Reply getlk(uint64_t nodeid, uint64_t fh, uint64_t owner, const fuse_file_lock& lock);
    uint64_t submit_setlk(uint64_t nodeid, uint64_t fh, uint64_t owner, const fuse_file_lock& lock, bool wait,
                          bool flock = false);
    void interrupt(uint64_t unique);

    // Names the guest sees in a READDIR(PLUS) reply, with their fuse_direntplus entries.
    struct Dirent {
        std::string name;
        uint64_t ino = 0;
        uint64_t off = 0;
        uint32_t type = 0;
        fuse_entry_out entry{}; // READDIRPLUS
    };
    [[nodiscard]] static std::vector<Dirent> parse_dirents(const Reply& reply, bool plus);

    // The caller identity put in request headers.
    uint32_t uid = 0;
    uint32_t gid = 0;
    uint32_t pid = 1;

    [[nodiscard]] uint64_t unique_of(uint64_t ticket) const { return requests_.at(ticket).unique; }
    [[nodiscard]] size_t outstanding() const { return requests_.size(); }

    virtio::VirtioFs* device = nullptr; // set while `driver` is made: declared first
    MmioDriver driver;

private:
    struct Request {
        unsigned queue = 0;
        uint16_t head = 0;
        std::vector<uint16_t> descs;
        uint64_t out_addr = 0;
        uint32_t out_size = 0;
        uint64_t unique = 0;
        bool used = false;
        uint32_t used_len = 0;
    };

    void bring_up();
    uint64_t alloc(uint64_t len);
    uint64_t offer(unsigned queue, std::span<const std::byte> in, uint32_t out_size, const Shape& shape,
                   uint64_t unique);
    void collect_used();
    [[nodiscard]] bool io_ready(); // an fd the I/O thread watches is ready now

    uint64_t heap_ = kHeapStart;
    uint64_t next_unique_ = 2;
    uint64_t next_ticket_ = 1;
    std::map<unsigned, std::vector<uint16_t>> free_;
    std::map<unsigned, uint16_t> last_used_;
    std::map<uint64_t, Request> requests_;
    uint64_t extra_features_ = 0;
};

template <typename T>
T FuseClient::Reply::as() const
{
    static_assert(std::is_trivially_copyable_v<T>);
    T value{};
    std::memcpy(&value, payload.data(), std::min(sizeof(T), payload.size()));
    return value;
}

// Request arguments: structs and NUL-terminated names, concatenated.
class FuseArgs {
public:
    template <typename T>
    FuseArgs& add(const T& value)
    {
        static_assert(std::is_trivially_copyable_v<T>);
        const auto bytes = std::as_bytes(std::span(&value, 1));
        bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
        return *this;
    }
    FuseArgs& name(std::string_view text)
    {
        const auto bytes = std::as_bytes(std::span(text.data(), text.size()));
        bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
        bytes_.push_back(std::byte{0});
        return *this;
    }
    FuseArgs& raw(std::span<const std::byte> bytes)
    {
        bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
        return *this;
    }
    [[nodiscard]] std::span<const std::byte> bytes() const { return bytes_; }

private:
    std::vector<std::byte> bytes_;
};

} // namespace minivmm::test
