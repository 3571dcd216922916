// qcow2 disk backend: DiskOps as coroutines on the chain.
#include "backends/block/qcow2/qcow2_backend.hpp"

#include <minivmm/error.hpp>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <new>

namespace minivmm::backends::qcow2 {

Qcow2Backend::Qcow2Backend(DiskChain& chain, std::unique_ptr<BlockBackend> inner, std::size_t depth,
                           uint64_t l2_cache_bytes)
    : engine_(std::move(inner), scheduler_), name_("qcow2 on " + std::string(engine_.name())), depth_(depth)
{
    auto& images = chain.images();
    ImageLayer* below = nullptr;
    for (std::size_t i = images.size(); i > 0; --i) {
        ChainImage& image = images[i - 1];
        const uint64_t cache = i == 1 ? l2_cache_bytes : DiskChain::kBackingL2CacheBytes;
        if (image.qcow2) {
            auto layer = std::make_unique<Qcow2Image>(image, engine_, scheduler_, below, cache);
            top_ = layer.get();
            layers_.push_back(std::move(layer));
        } else {
            layers_.push_back(std::make_unique<RawLayer>(image.file, engine_));
            top_ = nullptr;
        }
        below = layers_.back().get();
    }
    if (top_ == nullptr) {
        throw HostError("qcow2 backend: the top of the chain is not a qcow2 image");
    }
    done_.reserve(depth_);
}

Qcow2Backend::~Qcow2Backend()
{
    settle();
    if (!top_->durable()) {
        return; // the temporary overlay is about to go
    }
    // A write-back makes what the guest wrote durable; the ones after it record the frees it
    // made due (at most a few rounds: a moved refcount table frees its old place a round later).
    for (int round = 0; round < 4 && top_->metadata_pending(); ++round) {
        bool done = false;
        run_write_back(done);
        settle();
        if (!done) {
            break;
        }
    }
}

bool Qcow2Backend::submit(Tag tag, const DiskOp& op)
{
    if (in_flight() >= depth_) {
        return false;
    }
    ++running_;
    std::vector<iovec> iov;
    if (!spare_iovs_.empty()) {
        iov = std::move(spare_iovs_.back());
        spare_iovs_.pop_back();
    }
    iov.assign(op.iov.begin(), op.iov.end());
    run_op(tag, op, std::move(iov));
    return true;
}

Detached Qcow2Backend::run_op(Tag tag, DiskOp op, std::vector<iovec> iov)
{
    const uint64_t seq = top_->begin_request();
    int err = 0;
    try {
        err = co_await execute(op, iov, seq);
    } catch (const std::bad_alloc&) {
        err = ENOMEM;
    } catch (const std::exception& e) {
        top_->log().error("request failed: {}", e.what());
        err = EIO;
    }
    top_->end_request(seq);
    --running_;
    done_.push_back(Completion{tag, err});
    spare_iovs_.push_back(std::move(iov));
}

Detached Qcow2Backend::run_write_back(bool& done)
{
    (void)co_await top_->write_back();
    done = true;
}

Task<int> Qcow2Backend::execute(DiskOp op, std::span<const iovec> iov, uint64_t seq)
{
    switch (op.kind) {
    case DiskOpKind::Read: co_return co_await top_->read(op.offset, iov);
    case DiskOpKind::Write: co_return co_await top_->write(op.offset, iov);
    case DiskOpKind::Flush:
        if (!top_->durable()) {
            co_return 0; // the temporary overlay goes away with the process: nothing to make durable
        }
        co_await top_->wait_for_requests_before(seq);
        co_return co_await top_->write_back();
    case DiskOpKind::Discard: co_return co_await top_->discard(op.offset, op.length);
    case DiskOpKind::WriteZeroes: co_return co_await top_->write_zeroes(op.offset, op.length, false);
    case DiskOpKind::WriteZeroesUnmap: co_return co_await top_->write_zeroes(op.offset, op.length, true);
    }
    co_return EINVAL;
}

void Qcow2Backend::pump()
{
    for (;;) {
        engine_.collect();
        if (scheduler_.empty()) {
            break;
        }
        scheduler_.run_ready();
    }
    engine_.commit();
}

void Qcow2Backend::reap(std::vector<Completion>& out)
{
    pump();
    out.insert(out.end(), done_.begin(), done_.end());
    done_.clear();
}

void Qcow2Backend::settle()
{
    for (;;) {
        pump();
        if (running_ == 0 && !top_->background_running() && engine_.in_flight() == 0) {
            return;
        }
        if (engine_.in_flight() == 0 && scheduler_.empty()) {
            top_->log().error("{} requests wait for something that will not happen", running_);
            return;
        }
        engine_.wait_and_collect();
        scheduler_.run_ready();
    }
}

void Qcow2Backend::drain(std::vector<Completion>& out)
{
    settle();
    out.insert(out.end(), done_.begin(), done_.end());
    done_.clear();
}

} // namespace minivmm::backends::qcow2
