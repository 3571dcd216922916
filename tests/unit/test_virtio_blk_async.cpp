// virtio-blk with I/O in flight: back-pressure when the backend is full, reset and
// quiesce with requests outstanding, host errors, EVENT_IDX, driver errors, O_DIRECT
// bounce buffers, and the backends' own guarantees (flush ordering, short reads).
#include "support/failing_syscall.hpp"
#include "support/virtio_blk_driver.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <optional>

using namespace minivmm;
using namespace minivmm::virtio;
using namespace minivmm::test;

namespace {

constexpr uint64_t kImageSize = 8 * 1024 * 1024;

// Holds every op until the test releases it, then runs it on a SyncBackend and signals
// an eventfd, like an asynchronous backend whose disk is exactly as slow as the test says.
class GatedBackend final : public backends::BlockBackend {
public:
    GatedBackend(int fd, std::size_t depth) : inner_(fd, depth), depth_(depth), event_fd_(::eventfd(0, EFD_NONBLOCK))
    {
        REQUIRE(event_fd_.valid());
    }

    [[nodiscard]] std::string_view name() const override { return "gated"; }
    [[nodiscard]] std::size_t capacity() const override { return depth_; }
    [[nodiscard]] std::size_t in_flight() const override { return held_.size() + ready_.size(); }
    [[nodiscard]] bool submit(Tag tag, const backends::DiskOp& op) override
    {
        CHECK(in_flight() < depth_); // the device must respect capacity()
        held_.push_back(Held{tag, op, std::vector<iovec>(op.iov.begin(), op.iov.end())});
        held_.back().op.iov = held_.back().iov;
        max_in_flight = std::max(max_in_flight, in_flight());
        ++uncommitted;
        return true;
    }
    void commit() override
    {
        if (uncommitted > 0) {
            batches.push_back(uncommitted);
        }
        uncommitted = 0;
    }
    [[nodiscard]] int completion_fd() const override { return event_fd_.get(); }
    void reap(std::vector<Completion>& out) override
    {
        uint64_t n = 0;
        (void)::read(event_fd_.get(), &n, sizeof(n));
        out.insert(out.end(), ready_.begin(), ready_.end());
        ready_.clear();
    }
    void drain(std::vector<Completion>& out) override
    {
        release(held_.size());
        reap(out);
    }

    // Runs the oldest `count` held ops; with `error` set they fail with it instead.
    void release(std::size_t count, int error = 0)
    {
        for (std::size_t i = 0; i < count && !held_.empty(); ++i) {
            Held h = std::move(held_.front());
            held_.pop_front();
            h.op.iov = h.iov;
            if (error != 0) {
                ready_.push_back(Completion{h.tag, error});
                continue;
            }
            REQUIRE(inner_.submit(h.tag, h.op));
            inner_.reap(ready_);
        }
        REQUIRE(::eventfd_write(event_fd_.get(), 1) == 0);
    }
    [[nodiscard]] std::size_t held() const { return held_.size(); }

    std::size_t max_in_flight = 0;
    std::size_t uncommitted = 0;        // submitted since the last commit()
    std::vector<std::size_t> batches;   // ops per commit() that had any

private:
    struct Held {
        Tag tag;
        backends::DiskOp op;
        std::vector<iovec> iov;
    };
    backends::SyncBackend inner_;
    std::size_t depth_;
    util::UniqueFd event_fd_;
    std::deque<Held> held_;
    std::vector<Completion> ready_;
};

struct Gated {
    explicit Gated(const TempImage& file, std::size_t depth, bool event_idx = false, uint16_t queue_size = 32)
    {
        auto image = backends::DiskImage::open(file.config());
        auto backend = std::make_unique<GatedBackend>(image.fd(), depth);
        gate = backend.get();
        h = std::make_unique<BlkHarness>(std::move(image), std::move(backend), queue_size, event_idx, kAllBlkFeatures);
    }
    GatedBackend* gate = nullptr;
    std::unique_ptr<BlkHarness> h;
};

BlkChain offer_write(VirtioDriver& d, uint64_t sector, std::span<const std::byte> data, Layout layout = Layout::Separate)
{
    const auto c = offer_blk(d, kBlkTOut, sector, static_cast<uint32_t>(data.size()), false, layout);
    d.memory.write(c.data, data);
    return c;
}

uint32_t used_len_of_any(const std::vector<VirtioDriver::Used>& used, uint16_t head)
{
    auto it = std::find_if(used.begin(), used.end(), [head](const auto& u) { return u.id == head; });
    REQUIRE(it != used.end());
    return it->len;
}

} // namespace

TEST_CASE("virtio-blk stops popping when the backend is full and resumes on completions", "[unit][virtio-blk]")
{
    TempImage file(kImageSize);
    Gated g(file, 2);
    auto& d = g.h->driver;
    std::vector<BlkChain> chains;
    for (unsigned i = 0; i < 6; ++i) {
        chains.push_back(offer_write(d, i * 8, pattern(4096, 10 + i)));
    }
    g.h->kick();
    CHECK(g.gate->held() == 2);
    CHECK(d.queue.next_avail() == 2); // the rest stay in the avail ring, not lost
    CHECK(g.h->device->requests_in_flight() == 2);

    g.gate->release(1);
    auto used = g.h->wait_for(1);
    CHECK(used.size() == 1);
    CHECK(d.queue.next_avail() == 3); // one slot freed, one more popped without a kick
    CHECK(g.gate->held() == 2);

    for (int round = 0; round < 10 && used.size() < 6; ++round) {
        g.gate->release(2);
        for (const auto& u : g.h->wait_for(1)) {
            used.push_back(u);
        }
    }
    REQUIRE(used.size() == 6);
    CHECK(g.gate->max_in_flight == 2);
    for (unsigned i = 0; i < 6; ++i) {
        CHECK(g.h->status(chains[i]) == kBlkSOk);
        CHECK(file.read(i * 8 * 512, 4096) == pattern(4096, 10 + i));
    }
}

TEST_CASE("virtio-blk sends a notify's requests to the backend as one batch", "[unit][virtio-blk]")
{
    TempImage file(kImageSize);
    Gated g(file, 16);
    auto& d = g.h->driver;
    for (unsigned i = 0; i < 8; ++i) {
        (void)offer_write(d, i * 8, pattern(4096, 40 + i));
    }
    g.h->kick();
    // One commit for the eight requests of the kick, none left queued behind it.
    CHECK(g.gate->held() == 8);
    CHECK(g.gate->batches == std::vector<std::size_t>{8});
    CHECK(g.gate->uncommitted == 0);
    // Requests added later go in a batch of their own.
    (void)offer_write(d, 64, pattern(4096, 50));
    g.h->kick();
    CHECK(g.gate->batches == std::vector<std::size_t>{8, 1});
    g.gate->release(9);
    CHECK(g.h->wait_for(9).size() == 9);
    CHECK(g.gate->uncommitted == 0);
}

TEST_CASE("virtio-blk back-pressure on a real backend loses nothing", "[unit][virtio-blk]")
{
    const auto backend = GENERATE(TestBackend::Synchronous, TestBackend::IoUring);
    INFO(to_string(backend));
    TempImage file(kImageSize);
    auto h = BlkHarness::make(file.config(), backend, 3, 256);
    if (!h) {
        return;
    }
    auto& d = h->driver;
    std::vector<BlkChain> writes;
    for (unsigned i = 0; i < 40; ++i) {
        writes.push_back(offer_write(d, i * 16, pattern(8192, 100 + i)));
    }
    REQUIRE(h->run_until(40).size() == 40);
    std::vector<BlkChain> reads;
    for (unsigned i = 0; i < 40; ++i) {
        reads.push_back(offer_blk(d, kBlkTIn, i * 16, 8192, true, i % 2 == 0 ? Layout::Separate : Layout::Split));
    }
    REQUIRE(h->run_until(40).size() == 40);
    for (unsigned i = 0; i < 40; ++i) {
        CHECK(h->status(writes[i]) == kBlkSOk);
        CHECK(h->status(reads[i]) == kBlkSOk);
        CHECK(h->data(reads[i]) == pattern(8192, 100 + i));
    }
    CHECK(h->device->requests_in_flight() == 0);
}

TEST_CASE("virtio-blk reset with requests in flight writes nothing more to the guest", "[unit][virtio-blk]")
{
    TempImage file(kImageSize);
    SECTION("gated backend")
    {
        Gated g(file, 8);
        auto& d = g.h->driver;
        const auto a = offer_blk(d, kBlkTIn, 0, 4096, true);
        const auto b = offer_write(d, 64, pattern(4096, 20));
        const auto c = offer_blk(d, kBlkTFlush, 0, 0, false);
        g.h->kick();
        REQUIRE(g.gate->held() == 3);
        g.h->device->reset();
        CHECK(g.gate->in_flight() == 0); // reset waited for all of them
        CHECK(g.h->device->requests_in_flight() == 0);
        CHECK(d.used_idx() == 0);
        CHECK(g.h->status(a) == 0xee);
        CHECK(g.h->status(b) == 0xee);
        CHECK(g.h->status(c) == 0xee);
        CHECK(g.h->context.watches.empty());
        CHECK(g.h->context.errors.empty());

        // A fresh start works as before.
        d.queue.reset();
        VirtioDriver& fresh = d;
        REQUIRE(fresh.queue.set_size(32));
        fresh.queue.set_desc_addr(VirtioDriver::kDesc);
        fresh.queue.set_avail_addr(VirtioDriver::kAvail);
        fresh.queue.set_used_addr(VirtioDriver::kUsed);
        fresh.queue.set_indirect_desc(true);
        fresh.queue.set_ready(true);
        fresh.memory.write_obj(VirtioDriver::kAvail + 2, uint16_t{0});
        fresh.memory.write_obj(VirtioDriver::kUsed + 2, uint16_t{0});
        g.h->activate(kAllBlkFeatures);
        CHECK(g.h->context.watches.size() == 1);
    }
    SECTION("io_uring backend")
    {
        auto h = BlkHarness::make(file.config(), TestBackend::IoUring, 256, 64);
        if (!h) {
            return;
        }
        auto& d = h->driver;
        file.write(0, pattern(kImageSize, 21));
        std::vector<BlkChain> chains;
        for (unsigned i = 0; i < 12; ++i) {
            chains.push_back(offer_blk(d, kBlkTIn, i * 1024, 512 * 1024, true));
        }
        h->kick();
        h->device->reset();
        CHECK(h->device->backend().in_flight() == 0);
        CHECK(h->device->requests_in_flight() == 0);
        // Requests that finished before reset() may have been answered; none after it.
        const uint16_t used = d.used_idx();
        for (const auto& c : chains) {
            const uint8_t status = h->status(c);
            CHECK((status == 0xee || status == kBlkSOk));
        }
        h->context.poll_once(std::chrono::milliseconds(50));
        CHECK(d.used_idx() == used);
        CHECK(h->context.watches.empty());
    }
}

TEST_CASE("virtio-blk quiesce completes requests in flight and syncs", "[unit][virtio-blk]")
{
    TempImage file(kImageSize);
    Gated g(file, 8);
    auto& d = g.h->driver;
    const auto a = offer_write(d, 0, pattern(4096, 30));
    const auto b = offer_write(d, 8, pattern(4096, 31));
    g.h->kick();
    REQUIRE(g.gate->held() == 2);
    CHECK_FALSE(g.h->device->quiesce());
    CHECK(g.gate->in_flight() == 0);
    CHECK(d.used_idx() == 2);
    CHECK(g.h->status(a) == kBlkSOk);
    CHECK(g.h->status(b) == kBlkSOk);
    CHECK(file.read(0, 4096) == pattern(4096, 30));
    CHECK(file.read(8 * 512, 4096) == pattern(4096, 31));
    CHECK_FALSE(g.h->context.notified.empty());
}

TEST_CASE("virtio-blk quiesce says so when the final fdatasync fails", "[unit][virtio-blk]")
{
    TempImage file(kImageSize);
    Gated g(file, 8);
    const auto request = offer_write(g.h->driver, 0, pattern(4096, 32));
    g.h->kick();
    std::optional<std::string> failure;
    test::run_with_failing_syscall("fdatasync", EIO, [&] { failure = g.h->device->quiesce(); });
    CHECK(g.h->status(request) == kBlkSOk);
    REQUIRE(failure);
    CHECK(*failure == "disk '" + file.path.string() +
                          "': fdatasync at shutdown failed: Input/output error (errno 5); what the guest wrote may "
                          "not be on the disk");
    // A read-only disk has nothing to flush.
    TempImage other(kImageSize);
    auto h = BlkHarness::make(other.config(true), TestBackend::Synchronous);
    REQUIRE(h);
    test::run_with_failing_syscall("fdatasync", EIO, [&] { failure = h->device->quiesce(); });
    CHECK_FALSE(failure);
}

TEST_CASE("virtio-blk host I/O errors reach the guest as IOERR", "[unit][virtio-blk]")
{
    TempImage file(kImageSize);
    Gated g(file, 8);
    auto& d = g.h->driver;
    const auto read = offer_blk(d, kBlkTIn, 0, 4096, true);
    const auto write = offer_write(d, 8, pattern(4096, 40));
    g.h->kick();
    g.gate->release(1, EIO);
    g.gate->release(1, ENOSPC);
    const auto used = g.h->wait_for(2);
    REQUIRE(used.size() == 2);
    CHECK(g.h->status(read) == kBlkSIoErr);
    CHECK(g.h->status(write) == kBlkSIoErr);
    for (const auto& u : used) {
        CHECK(u.len == 1);
    }
    CHECK(g.h->context.errors.empty());
}

TEST_CASE("virtio-blk short reads at the end of a shrunk image fail with IOERR", "[unit][virtio-blk]")
{
    const auto backend = GENERATE(TestBackend::Synchronous, TestBackend::IoUring);
    INFO(to_string(backend));
    TempImage file(64 * 1024);
    file.write(0, pattern(64 * 1024, 41));
    auto h = BlkHarness::make(file.config(), backend);
    if (!h) {
        return;
    }
    REQUIRE(::truncate(file.path.c_str(), 32 * 1024 + 100) == 0);
    const auto full = offer_blk(h->driver, kBlkTIn, 0, 64 * 1024, true);
    const auto head = offer_blk(h->driver, kBlkTIn, 0, 32 * 1024, true);
    REQUIRE(h->run_until(2).size() == 2);
    CHECK(h->status(full) == kBlkSIoErr);
    CHECK(h->status(head) == kBlkSOk);
    CHECK(h->data(head) == pattern(32 * 1024, 41));
}

TEST_CASE("virtio-blk protocol errors need a device reset", "[unit][virtio-blk]")
{
    using Buffer = VirtioDriver::Buffer;
    TempImage file(kImageSize);
    auto h = BlkHarness::make(file.config(), TestBackend::Synchronous);
    auto& d = h->driver;
    SECTION("no status byte")
    {
        const memory::GuestAddress hdr = d.alloc(16);
        d.memory.write_obj(hdr, BlkReqHeader{kBlkTIn, 0, 0});
        d.offer({Buffer{hdr, 16, false}});
    }
    SECTION("header too short")
    {
        const memory::GuestAddress hdr = d.alloc(16);
        const memory::GuestAddress status = d.alloc(1);
        d.offer({Buffer{hdr, 8, false}, Buffer{status, 1, true}});
    }
    SECTION("descriptor loop")
    {
        const memory::GuestAddress buf = d.alloc(16);
        d.memory.write_obj(VirtioDriver::kDesc, virtio::VirtqDesc{buf.value(), 16, virtio::kVirtqDescFNext, 0});
        d.memory.write_obj(VirtioDriver::kAvail + 4, uint16_t{0});
        d.memory.write_obj(VirtioDriver::kAvail + 2, uint16_t{1});
    }
    h->kick();
    REQUIRE(h->context.errors.size() == 1);
    CHECK(d.used_idx() == 0);
    // Nothing more is processed until reset.
    const auto later = offer_blk(d, kBlkTFlush, 0, 0, false);
    h->kick();
    CHECK(d.used_idx() == 0);
    CHECK(h->status(later) == 0xee);
    CHECK(h->context.errors.size() == 1);
}

TEST_CASE("virtio-blk with EVENT_IDX asks for the next kick and interrupts", "[unit][virtio-blk]")
{
    const auto backend = GENERATE(TestBackend::Synchronous, TestBackend::IoUring);
    INFO(to_string(backend));
    TempImage file(kImageSize);
    auto h = BlkHarness::make(file.config(), backend, 256, 32, true);
    if (!h) {
        return;
    }
    auto& d = h->driver;
    d.set_used_event(0);
    offer_blk(d, kBlkTFlush, 0, 0, false);
    offer_blk(d, kBlkTIn, 0, 512, true);
    REQUIRE(h->run_until(2).size() == 2);
    CHECK(d.avail_event() == 2); // kick me when request 2 is added
    CHECK_FALSE(h->context.notified.empty());
    CHECK(h->context.notified.front() == 0);
    offer_blk(d, kBlkTFlush, 0, 0, false);
    REQUIRE(h->run_until(1).size() == 1);
    CHECK(d.avail_event() == 3);
}

TEST_CASE("virtio-blk without EVENT_IDX suppresses kicks only while it works", "[unit][virtio-blk]")
{
    TempImage file(kImageSize);
    Gated g(file, 1);
    auto& d = g.h->driver;
    offer_blk(d, kBlkTFlush, 0, 0, false);
    offer_blk(d, kBlkTFlush, 0, 0, false);
    g.h->kick();
    CHECK(d.used_flags() == virtio::kVirtqUsedFNoNotify); // stalled on a full backend: completions resume it
    g.gate->release(1);
    REQUIRE(g.h->wait_for(1).size() == 1);
    g.gate->release(1);
    REQUIRE(g.h->wait_for(1).size() == 1);
    CHECK(d.used_flags() == 0); // idle: the driver must kick again
}

TEST_CASE("virtio-blk cache=none bounces unaligned guest buffers", "[unit][virtio-blk]")
{
    const auto backend = GENERATE(TestBackend::Synchronous, TestBackend::IoUring);
    const auto layout = GENERATE(Layout::Separate, Layout::Merged, Layout::Split, Layout::Indirect);
    INFO(to_string(backend) << " backend, " << to_string(layout) << " layout");
    TempImage file(kImageSize, "/var/tmp");
    std::unique_ptr<BlkHarness> h;
    try {
        h = BlkHarness::make(file.config(false, DiskCache::None), backend, 256, 128);
    } catch (const ConfigError& e) {
        WARN("no O_DIRECT on /var/tmp, skipping: " << e.what());
        return;
    }
    if (!h) {
        return;
    }
    REQUIRE(h->device->image().direct());
    auto& d = h->driver;
    std::vector<BlkChain> writes;
    for (unsigned i = 0; i < 12; ++i) { // more than the 8 bounce buffers
        writes.push_back(offer_write(d, 8 + i * 64, pattern(16 * 1024, 50 + i), layout));
    }
    REQUIRE(h->run_until(12).size() == 12);
    for (unsigned i = 0; i < 12; ++i) {
        CHECK(h->status(writes[i]) == kBlkSOk);
        CHECK(file.read((8 + i * 64) * 512, 16 * 1024) == pattern(16 * 1024, 50 + i));
    }
    file.write(4096 * 512, pattern(64 * 1024, 70));
    std::vector<BlkChain> reads;
    for (unsigned i = 0; i < 12; ++i) {
        reads.push_back(offer_blk(d, kBlkTIn, 4096, 64 * 1024, true, layout));
    }
    const auto used = h->run_until(12);
    REQUIRE(used.size() == 12);
    for (const auto& r : reads) {
        CHECK(h->status(r) == kBlkSOk);
        CHECK(h->data(r) == pattern(64 * 1024, 70));
        CHECK(used_len_of_any(used, r.head) == 64 * 1024 + 1);
    }

    SECTION("an unaligned request larger than a bounce buffer gets IOERR")
    {
        const auto big = offer_blk(d, kBlkTIn, 0, 5 * 1024 * 1024, true, Layout::Merged);
        REQUIRE(h->run_until(1).size() == 1);
        CHECK(h->status(big) == kBlkSIoErr);
    }
}

TEST_CASE("io_uring backend: a flush completes after the writes before it", "[unit][virtio-blk]")
{
    // O_DIRECT, so the write really is in flight on the disk when the flush is submitted.
    TempImage file(32 * 1024 * 1024, "/var/tmp");
    const auto cache = GENERATE(DiskCache::None, DiskCache::Writeback);
    std::optional<backends::DiskImage> image;
    try {
        image.emplace(backends::DiskImage::open(file.config(false, cache)));
    } catch (const ConfigError& e) {
        WARN("skipping: " << e.what());
        return;
    }
    auto backend = make_test_backend(image->fd(), 8, TestBackend::IoUring);
    if (!backend) {
        return;
    }
    constexpr std::size_t kLen = 16 * 1024 * 1024;
    backends::BouncePool buffers(1, kLen); // 4 KiB-aligned memory, as O_DIRECT wants
    const auto index = buffers.acquire(kLen);
    REQUIRE(index);
    const auto data = buffers.buffer(*index, kLen);
    const auto expect = pattern(kLen, 80);
    std::copy(expect.begin(), expect.end(), data.begin());
    const std::array<iovec, 1> iov{iovec{data.data(), data.size()}};
    for (int round = 0; round < 3; ++round) {
        REQUIRE(backend->submit(1, backends::DiskOp{backends::DiskOpKind::Write, 0, kLen, iov}));
        REQUIRE(backend->submit(2, backends::DiskOp{backends::DiskOpKind::Flush, 0, 0, {}}));
        REQUIRE(backend->submit(
            3, backends::DiskOp{backends::DiskOpKind::Read, 0, 0, {}})); // zero-length: reported at once
        std::vector<backends::BlockBackend::Completion> done;
        backend->drain(done);
        REQUIRE(done.size() == 3);
        const auto pos = [&](backends::BlockBackend::Tag tag) {
            return std::find_if(done.begin(), done.end(), [tag](const auto& c) { return c.tag == tag; }) - done.begin();
        };
        CHECK(pos(1) < pos(2));
        for (const auto& c : done) {
            CHECK(c.error == 0);
        }
    }
    CHECK(backend->in_flight() == 0);
    CHECK(file.read(0, kLen) == expect);
}

TEST_CASE("io_uring backend: a flush waits for a write that is still blocked", "[unit][virtio-blk]")
{
    // A pipe makes a write that cannot finish until the test reads from the other end.
    std::array<int, 2> fds{};
    REQUIRE(::pipe2(fds.data(), O_CLOEXEC) == 0);
    util::UniqueFd read_end(fds[0]);
    util::UniqueFd write_end(fds[1]);
    auto backend = make_test_backend(write_end.get(), 4, TestBackend::IoUring);
    if (!backend) {
        return;
    }
    auto data = pattern(256 * 1024, 90); // more than the 64 KiB pipe buffer
    const std::array<iovec, 1> iov{iovec{data.data(), data.size()}};
    REQUIRE(backend->submit(1, backends::DiskOp{backends::DiskOpKind::Write, 0, data.size(), iov}));
    REQUIRE(backend->submit(2, backends::DiskOp{backends::DiskOpKind::Flush, 0, 0, {}}));
    std::vector<backends::BlockBackend::Completion> done;
    for (int i = 0; i < 20 && done.empty(); ++i) {
        ::usleep(5000);
        backend->reap(done);
    }
    CHECK(done.empty()); // the flush did not overtake the blocked write
    CHECK(backend->in_flight() == 2);

    // Drain the pipe, reaping meanwhile: the backend resubmits the rest of short writes.
    REQUIRE(::fcntl(read_end.get(), F_SETFL, O_NONBLOCK) == 0);
    std::vector<std::byte> got;
    std::array<std::byte, 65536> chunk{};
    for (int spins = 0; got.size() < data.size() && spins < 5000; ++spins) {
        backend->reap(done);
        const ssize_t n = ::read(read_end.get(), chunk.data(), chunk.size());
        if (n > 0) {
            got.insert(got.end(), chunk.begin(), chunk.begin() + n);
        } else {
            ::usleep(1000);
        }
    }
    backend->drain(done);
    REQUIRE(done.size() == 2);
    CHECK(done[0].tag == 1);
    CHECK(done[0].error == 0);
    CHECK(done[1].tag == 2); // fsync of a pipe fails (EINVAL); what matters is the order
    CHECK(got == data);
}
