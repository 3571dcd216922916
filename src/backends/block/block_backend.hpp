// The disk side of virtio-blk: operations on an open image, started now and finished later.
// A backend knows nothing of virtio (Firecracker's block/virtio/io split): it takes byte
// offsets and host iovecs, and reports each operation once, as done or failed with an errno.
// Short reads and writes are finished by the backend; a flush covers every write, discard
// and write-zeroes submitted before it, whether or not they had completed.
#pragma once

#include "util/seccomp_filter.hpp"

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace minivmm::backends {

enum class DiskOpKind : uint8_t {
    Read,             // preadv into iov
    Write,            // pwritev from iov
    Flush,            // fdatasync
    Discard,          // punch a hole; a filesystem that cannot is not an error (discard is a hint)
    WriteZeroes,      // zero the range (fallocate ZERO_RANGE, else written zeros)
    WriteZeroesUnmap, // zero the range, deallocating it where possible (PUNCH_HOLE first)
};

struct DiskOp {
    DiskOpKind kind = DiskOpKind::Read;
    uint64_t offset = 0; // bytes
    uint64_t length = 0; // bytes; for Read and Write the sum of the iov lengths
    // Read/Write: host buffers that stay valid until the op is reported. Copied on submit.
    std::span<const iovec> iov;
    // The file to work on; -1: the backend's own. Lets a disk format read its backing files
    // through the same ring as its image.
    int fd = -1;
    // Read: a short read ends the op, successfully, leaving the rest of the buffers as they
    // were. For reads that may reach past the end of a file (a backing file smaller than
    // the disk, compressed data in the last sector).
    bool stop_at_eof = false;
};

class BlockBackend {
public:
    using Tag = uint32_t;
    struct Completion {
        Tag tag = 0;
        int error = 0; // 0 or a positive errno
    };

    virtual ~BlockBackend() = default;
    // "io_uring" or "synchronous", for log lines.
    [[nodiscard]] virtual std::string_view name() const = 0;
    // How many ops may be in flight at once; the caller never submits more.
    [[nodiscard]] virtual std::size_t capacity() const = 0;
    // Ops submitted and not yet reported by reap() or drain().
    [[nodiscard]] virtual std::size_t in_flight() const = 0;
    // Starts `op`; it is reported by a later reap() under `tag`. False only when the caller
    // broke the capacity() contract (the op is not started).
    // An op may only be queued here: commit() sends it to the disk.
    [[nodiscard]] virtual bool submit(Tag tag, const DiskOp& op) = 0;
    // Sends every op submitted since the last call to the disk at once (one io_uring_submit
    // for a batch). The device commits after each batch it popped; reap() and drain() also
    // send anything queued.
    virtual void commit() = 0;
    // Readable (EPOLLIN) when reap() has something to report; -1 when ops finish inside
    // submit() and the caller just reaps after submitting.
    [[nodiscard]] virtual int completion_fd() const = 0;
    // Appends the ops that finished since the last call; never blocks.
    virtual void reap(std::vector<Completion>& out) = 0;
    // Blocks until nothing is in flight, then appends every unreported op, as reap().
    virtual void drain(std::vector<Completion>& out) = 0;
    // The system calls the backend makes once running (submit, reap, drain, destruction),
    // for the seccomp allow-lists of the threads that run them (util::kDeviceThreads).
    virtual void add_syscalls(util::SeccompPolicy& /*policy*/) const {}
};

enum class BlockBackendKind {
    Auto,        // io_uring, or synchronous where io_uring is not available
    IoUring,
    Synchronous, // every op runs inside submit(): for hosts without io_uring
};

// A backend for `fd` with room for `depth` ops in flight. Auto logs (at info, once per
// process and kind) which one it chose and why. IoUring throws HostError when unavailable.
[[nodiscard]] std::unique_ptr<BlockBackend> make_block_backend(int fd, std::size_t depth, BlockBackendKind kind);

} // namespace minivmm::backends
