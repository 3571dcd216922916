// Synchronous disk backend: every op runs to the end inside submit() (preadv, pwritev,
// fdatasync, fallocate). The fallback for hosts where io_uring is not available (old
// kernels, seccomp filters, io_uring_disabled); it blocks the I/O thread, never a vCPU.
#pragma once

#include "backends/block/block_backend.hpp"
#include "backends/block/disk_op_steps.hpp"

#include <vector>

namespace minivmm::backends {

class SyncBackend final : public BlockBackend {
public:
    // `fd` stays owned by the caller and must outlive the backend.
    SyncBackend(int fd, std::size_t depth);

    [[nodiscard]] std::string_view name() const override { return "synchronous"; }
    [[nodiscard]] std::size_t capacity() const override { return depth_; }
    [[nodiscard]] std::size_t in_flight() const override { return done_.size(); }
    [[nodiscard]] bool submit(Tag tag, const DiskOp& op) override;
    void commit() override {} // submit() already ran the op
    [[nodiscard]] int completion_fd() const override { return -1; }
    void reap(std::vector<Completion>& out) override;
    void drain(std::vector<Completion>& out) override { reap(out); }

    // The ops themselves, and the completion eventfd (write).
    void add_syscalls(util::SeccompPolicy& policy) const override
    {
        policy.allow(util::kDeviceThreads, {"preadv", "pwritev", "pwrite64", "fdatasync", "fallocate"});
    }

private:
    [[nodiscard]] int run(const DiskOp& op);
    [[nodiscard]] int transfer(int fd, const DiskOp& op);
    [[nodiscard]] int zero(int fd, const DiskOp& op);
    [[nodiscard]] int write_zeroes(int fd, uint64_t offset, uint64_t length);

    int fd_;
    std::size_t depth_;
    IovCursor cursor_;
    std::vector<Completion> done_;
};

} // namespace minivmm::backends
