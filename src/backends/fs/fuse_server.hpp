// A FUSE server for one shared directory (the FUSE protocol of <linux/fuse.h>, 7.27 to 7.38,
// as virtio-fs carries it: virtio 1.2 section 5.11.6). It is handed each request as two iovec
// views of the guest's buffers, the request and the room for its reply, decodes it, checks
// every length and offset in it, calls the PassthroughFs, and writes the reply: READ and WRITE
// data move between the file and those buffers with no copy in between. No virtio here.
//
// Served: INIT, DESTROY, LOOKUP, FORGET, BATCH_FORGET, GETATTR, SETATTR, READLINK, SYMLINK,
// MKNOD, MKDIR, UNLINK, RMDIR, RENAME, RENAME2, LINK, OPEN, CREATE, READ, WRITE, FLUSH, RELEASE,
// FSYNC, OPENDIR, READDIR, READDIRPLUS, RELEASEDIR, FSYNCDIR, STATFS, ACCESS, GETXATTR,
// SETXATTR, LISTXATTR, REMOVEXATTR, LSEEK, FALLOCATE, COPY_FILE_RANGE, GETLK, SETLK, SETLKW,
// INTERRUPT, SYNCFS. Anything else (IOCTL, POLL, BMAP, the DAX mappings, TMPFILE...) answers
// ENOSYS. Every request but INIT before INIT answers EIO.
//
// Threads: handle() runs on any number of threads at once (each calls prepare_thread() first).
// A SETLKW that must wait is answered later, from the lock-waiter thread, through `deferred`.
#pragma once

#include "backends/fs/fs_options.hpp"
#include "backends/fs/fuse_lock_waiters.hpp"
#include "backends/fs/passthrough_fs.hpp"
#include "util/log_rate_limit.hpp"

#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>

namespace minivmm::backends {

// One request: the chain's device-readable buffers (the request) and device-writable ones
// (the reply's room).
struct FuseRequest {
    std::span<const iovec> in;
    std::span<const iovec> out;
};

// The guest's view of a looked-up inode: node id, attributes and the share's timeouts.
[[nodiscard]] fuse_entry_out make_entry_out(const PassthroughFs& fs, const FsEntry& entry);

class FuseServer final {
public:
    // The reply to the request handed in with `token` is written: `written` bytes.
    using Deferred = std::function<void(uint64_t token, uint32_t written)>;

    // ConfigError when options.root cannot be served.
    FuseServer(FsOptions options, std::string name, Deferred deferred);
    ~FuseServer();
    FuseServer(const FuseServer&) = delete;
    FuseServer& operator=(const FuseServer&) = delete;

    static void prepare_thread() { PassthroughFs::prepare_thread(); }

    // Serves one request. Returns the bytes written into request.out (0 for requests that
    // get no reply: FORGET, BATCH_FORGET, INTERRUPT, and malformed ones with no room for a
    // header), or nullopt if the reply comes later through `deferred` with `token`; the
    // buffers must then stay valid until it does, or until reset().
    [[nodiscard]] std::optional<uint32_t> handle(const FuseRequest& request, uint64_t token);

    // The device was reset: requests waiting for a lock are dropped unanswered, everything the
    // guest held is let go, and the next request must be INIT.
    void reset();

    [[nodiscard]] const std::string& name() const { return name_; }
    [[nodiscard]] PassthroughFs& fs() { return fs_; }
    [[nodiscard]] bool initialized() const { return initialized_.load(); }
    [[nodiscard]] uint32_t minor() const { return minor_.load(); }
    [[nodiscard]] size_t parked_locks() const { return waiters_.parked(); }

private:
    struct Context;

    [[nodiscard]] std::optional<uint32_t> dispatch(Context& c);
    [[nodiscard]] uint32_t init(Context& c);
    [[nodiscard]] uint32_t destroy(Context& c);
    // Names and attributes (fuse_server_entries.cpp).
    [[nodiscard]] uint32_t lookup(Context& c);
    [[nodiscard]] uint32_t forget(Context& c);
    [[nodiscard]] uint32_t batch_forget(Context& c);
    [[nodiscard]] uint32_t getattr(Context& c);
    [[nodiscard]] uint32_t setattr(Context& c);
    [[nodiscard]] uint32_t readlink(Context& c);
    [[nodiscard]] uint32_t symlink(Context& c);
    [[nodiscard]] uint32_t mknod(Context& c);
    [[nodiscard]] uint32_t mkdir(Context& c);
    [[nodiscard]] uint32_t unlink(Context& c, bool directory);
    [[nodiscard]] uint32_t rename(Context& c, bool with_flags);
    [[nodiscard]] uint32_t link(Context& c);
    [[nodiscard]] uint32_t statfs(Context& c);
    [[nodiscard]] uint32_t access(Context& c);
    // Files and directories (fuse_server_files.cpp).
    [[nodiscard]] uint32_t open(Context& c, bool directory);
    [[nodiscard]] uint32_t create(Context& c);
    [[nodiscard]] uint32_t read(Context& c);
    [[nodiscard]] uint32_t write(Context& c);
    [[nodiscard]] uint32_t flush(Context& c);
    [[nodiscard]] uint32_t release(Context& c, bool directory);
    [[nodiscard]] uint32_t fsync(Context& c, bool directory);
    [[nodiscard]] uint32_t readdir(Context& c, bool plus);
    [[nodiscard]] uint32_t lseek(Context& c);
    [[nodiscard]] uint32_t fallocate(Context& c);
    [[nodiscard]] uint32_t copy_file_range(Context& c);
    [[nodiscard]] uint32_t syncfs(Context& c);
    // Extended attributes and locks (fuse_server_xattr_locks.cpp).
    [[nodiscard]] uint32_t getxattr(Context& c, bool list);
    [[nodiscard]] uint32_t setxattr(Context& c);
    [[nodiscard]] uint32_t removexattr(Context& c);
    [[nodiscard]] uint32_t getlk(Context& c);
    [[nodiscard]] std::optional<uint32_t> setlk(Context& c, bool wait);
    [[nodiscard]] uint32_t interrupt(Context& c);

    [[nodiscard]] fuse_entry_out entry_out(const FsEntry& entry) const { return make_entry_out(fs_, entry); }
    [[nodiscard]] fuse_attr_out attr_out(const struct stat& st) const;
    // A malformed request from the guest: logged (rate-limited), answered `error`.
    [[nodiscard]] uint32_t malformed(Context& c, const char* why, int error);

    std::string name_;
    PassthroughFs fs_;
    FuseLockWaiters waiters_;
    std::atomic<bool> initialized_{false};
    std::atomic<uint32_t> minor_{0};
    std::atomic<bool> setxattr_ext_{false};
    std::mutex log_mutex_;
    util::LogRateLimit log_limit_;
};

} // namespace minivmm::backends
