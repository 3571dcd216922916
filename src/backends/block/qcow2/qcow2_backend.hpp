// The disk backend of a qcow2 disk (a qcow2 image, or any image under snapshot=on): takes
// the device's DiskOps at guest offsets, runs each as a coroutine on the image chain, and
// does the file I/O through an inner backend (io_uring, or synchronous I/O) on the chain's
// files. Reports each op once, like the raw backends; a FLUSH completes after every op
// submitted before it has finished and the metadata write-back (qcow2_writeback.cpp) has
// made data and metadata durable.
#pragma once

#include "backends/block/async_task.hpp"
#include "backends/block/block_backend.hpp"
#include "backends/block/disk_chain.hpp"
#include "backends/block/image_layer.hpp"
#include "backends/block/io_engine.hpp"
#include "backends/block/qcow2/qcow2_image.hpp"

#include <memory>
#include <string>
#include <vector>

namespace minivmm::backends::qcow2 {

class Qcow2Backend final : public BlockBackend {
public:
    // `chain` (its top a qcow2 image) must outlive the backend; `inner` works on the top
    // file's fd and reads the others through DiskOp::fd. At most `depth` ops in flight. The
    // top image's L2 cache holds at most `l2_cache_bytes` of tables (beyond what the disk needs).
    Qcow2Backend(DiskChain& chain, std::unique_ptr<BlockBackend> inner, std::size_t depth,
                 uint64_t l2_cache_bytes = DiskChain::kTopL2CacheBytes);
    // Finishes every op in flight and writes the metadata back until nothing is pending
    // (frees included, so a cleanly closed image has no leaked clusters).
    ~Qcow2Backend() override;
    Qcow2Backend(const Qcow2Backend&) = delete;
    Qcow2Backend& operator=(const Qcow2Backend&) = delete;

    [[nodiscard]] std::string_view name() const override { return name_; }
    [[nodiscard]] std::size_t capacity() const override { return depth_; }
    [[nodiscard]] std::size_t in_flight() const override { return running_ + done_.size(); }
    [[nodiscard]] bool submit(Tag tag, const DiskOp& op) override;
    void commit() override { engine_.commit(); }
    [[nodiscard]] int completion_fd() const override { return engine_.completion_fd(); }
    void reap(std::vector<Completion>& out) override;
    void drain(std::vector<Completion>& out) override;
    // Every file op (data, tables, refcounts, write-back, flushes) goes through the inner
    // backend, on whichever thread submits and reaps: its calls are all there is.
    void add_syscalls(util::SeccompPolicy& policy) const override { engine_.add_syscalls(policy); }

    [[nodiscard]] Qcow2Image& top() { return *top_; }

private:
    Detached run_op(Tag tag, DiskOp op, std::vector<iovec> iov);
    Detached run_write_back(bool& done);
    [[nodiscard]] Task<int> execute(DiskOp op, std::span<const iovec> iov, uint64_t seq);
    void pump();
    // Runs everything until no op is in flight (blocking on the inner backend).
    void settle();

    Scheduler scheduler_;
    IoEngine engine_;
    std::vector<std::unique_ptr<ImageLayer>> layers_; // bottom first; they use engine_
    Qcow2Image* top_ = nullptr;
    std::string name_;
    std::size_t depth_;
    std::size_t running_ = 0;
    std::vector<Completion> done_;
    std::vector<std::vector<iovec>> spare_iovs_; // iovec arrays of finished ops, for reuse
};

} // namespace minivmm::backends::qcow2
