// Writing qcow2 images through the virtio-blk device: after writes (partial clusters over a
// backing file, across L2 tables, in place), write-zeroes and discards, the image must be
// what a shadow copy of the disk says (`qemu-img compare`), and `qemu-img check` must find
// it clean: no corruption and, after a clean close, no leaked clusters either.
#include "support/qcow2_disk.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace minivmm;
using namespace minivmm::test;

namespace {

// A disk and what it should hold: every operation goes to both.
struct Shadowed {
    DeviceDisk disk;
    std::vector<std::byte> expected;

    Shadowed(const std::filesystem::path& image, std::vector<std::byte> initial, TestBackend backend,
             std::optional<uint64_t> l2_cache_bytes = std::nullopt)
        : disk(disk_options(image), backend, l2_cache_bytes), expected(std::move(initial))
    {
        REQUIRE(disk.size == expected.size());
    }
    void write(uint64_t offset, const std::vector<std::byte>& data)
    {
        disk.write(offset, data);
        std::copy(data.begin(), data.end(), expected.begin() + static_cast<std::ptrdiff_t>(offset));
    }
    void zero(uint64_t offset, uint64_t len, bool unmap)
    {
        REQUIRE(disk.command(virtio::kBlkTWriteZeroes, offset, len, unmap ? virtio::kBlkDiscardFUnmap : 0) ==
                virtio::kBlkSOk);
        std::fill_n(expected.begin() + static_cast<std::ptrdiff_t>(offset), len, std::byte{0});
    }
    // Discarded data is whatever the device then says it is (a hint may leave it).
    void discard(uint64_t offset, uint64_t len)
    {
        REQUIRE(disk.command(virtio::kBlkTDiscard, offset, len) == virtio::kBlkSOk);
        const auto now = disk.read(offset, len);
        std::copy(now.begin(), now.end(), expected.begin() + static_cast<std::ptrdiff_t>(offset));
    }
    void flush() { REQUIRE(disk.command(virtio::kBlkTFlush) == virtio::kBlkSOk); }
    void check_reads()
    {
        const auto got = disk.read(0, expected.size());
        REQUIRE(got.size() == expected.size());
        CHECK(std::equal(got.begin(), got.end(), expected.begin()));
    }
};

// `qemu-img check` finds the image clean (allowing leaked clusters only if asked), and it
// holds the expected contents as QEMU sees them (`qemu-img compare`).
void verify(const TempDir& dir, const std::filesystem::path& image, const std::vector<std::byte>& expected,
            bool leaks_allowed = false)
{
    check_image(image, leaks_allowed);
    const auto raw = dir / "expected.raw";
    write_file(raw, expected);
    qemu_img({"compare", "-f", "qcow2", "-F", "raw", image.string(), raw.string()});
    std::filesystem::remove(raw);
}

std::vector<std::byte> random_bytes(std::mt19937_64& rng, std::size_t n)
{
    std::vector<std::byte> out(n);
    for (auto& b : out) {
        b = static_cast<std::byte>(rng());
    }
    return out;
}

// Writes, zeroes and discards of assorted sizes at assorted places, flushes among them.
void exercise(Shadowed& s, uint64_t cluster, unsigned seed)
{
    const uint64_t size = s.expected.size();
    std::mt19937_64 rng(seed);
    // Fixed cases first: a sector inside a cluster (copy-on-write of the rest), a span over
    // cluster and L2-table boundaries, an overwrite in place, whole clusters.
    s.write(cluster + 512, random_bytes(rng, 512));
    s.write(2 * 1024 * 1024 - 3 * 512, random_bytes(rng, 8 * cluster + 1024));
    s.write(cluster + 1024, random_bytes(rng, 2048));
    s.write(6 * cluster, random_bytes(rng, 2 * cluster));
    s.zero(6 * cluster, cluster, false);
    s.zero(7 * cluster, cluster, true);
    s.zero(3 * cluster + 512, 1024, false);
    s.flush();
    for (int i = 0; i < 60; ++i) {
        const uint64_t len = 512 * (1 + rng() % (std::min<uint64_t>(3 * cluster, 1024 * 1024) / 512));
        const uint64_t offset = 512 * (rng() % ((size - len) / 512));
        switch (rng() % 6) {
        case 0: s.zero(offset, len, rng() % 2 == 0); break;
        case 1: s.discard(offset, len); break;
        case 2: s.flush(); break;
        default: s.write(offset, random_bytes(rng, len)); break;
        }
    }
    s.check_reads();
}

TestBackend backend_under_test() { return GENERATE(TestBackend::Synchronous, TestBackend::IoUring); }

} // namespace

TEST_CASE("qcow2: writes, write-zeroes and discards leave an image qemu-img finds clean and equal", "[unit][qcow2]")
{
    if (!have_qemu_tools()) {
        return;
    }
    const std::string compat = GENERATE(as<std::string>{}, "0.10", "1.1");
    const uint64_t cluster = GENERATE(4096, 65536, 2097152);
    const bool backing = GENERATE(false, true);
    const auto backend = backend_under_test();
    INFO("compat=" << compat << " cluster_size=" << cluster << " backing=" << backing << " " << to_string(backend));
    TempDir dir;
    const uint64_t kSize = std::max<uint64_t>(12 * 1024 * 1024, 10 * cluster);
    const auto image = dir / "image.qcow2";
    std::vector<std::byte> initial(kSize);
    std::vector<std::string> create{"create", "-f", "qcow2", "-o",
                                    "compat=" + compat + ",cluster_size=" + std::to_string(cluster)};
    if (backing) {
        initial = pattern(kSize, 17);
        write_file(dir / "base.raw", initial);
        create.insert(create.end(), {"-b", "base.raw", "-F", "raw"});
    }
    create.insert(create.end(), {image.string(), std::to_string(kSize)});
    qemu_img(create);
    std::vector<std::byte> expected;
    {
        Shadowed s(image, initial, backend);
        exercise(s, cluster, static_cast<unsigned>(cluster + (backing ? 1 : 0)));
        expected = s.expected;
    }
    verify(dir, image, expected);
}

TEST_CASE("qcow2: requests in flight together into one new cluster all land", "[unit][qcow2]")
{
    if (!have_qemu_tools()) {
        return;
    }
    const auto backend = backend_under_test();
    TempDir dir;
    const auto image = dir / "image.qcow2";
    write_file(dir / "base.raw", pattern(4 * 1024 * 1024, 23));
    qemu_img({"create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", image.string()});
    Shadowed s(image, pattern(4 * 1024 * 1024, 23), backend);
    // Eight 4 KiB writes into the same unallocated 64 KiB cluster, and eight more that
    // straddle two clusters each: the allocations must not lose each other's data.
    for (const uint64_t base : {uint64_t{0}, uint64_t{1024 * 1024 - 2048}}) {
        std::vector<std::pair<uint64_t, std::vector<std::byte>>> writes;
        for (unsigned i = 0; i < DeviceDisk::kSlots; ++i) {
            const uint64_t at = base + i * 8192;
            writes.emplace_back(at, pattern(4096, 100 + i));
            std::copy(writes.back().second.begin(), writes.back().second.end(),
                      s.expected.begin() + static_cast<std::ptrdiff_t>(at));
        }
        s.disk.write_many(writes);
    }
    s.check_reads();
    s.disk.close();
    verify(dir, image, s.expected);
}

TEST_CASE("qcow2: an image that outgrows its refcount table gets a larger one", "[unit][qcow2]")
{
    if (!have_qemu_tools()) {
        return;
    }
    // 512-byte clusters: one refcount block covers 128 KiB, the one-cluster refcount table
    // 8 MiB; writing 20 MiB moves the table twice.
    TempDir dir;
    const auto image = dir / "image.qcow2";
    constexpr uint64_t kSize = 24 * 1024 * 1024;
    qemu_img({"create", "-f", "qcow2", "-o", "cluster_size=512", image.string(), std::to_string(kSize)});
    std::vector<std::byte> expected;
    {
        Shadowed s(image, std::vector<std::byte>(kSize), TestBackend::Synchronous);
        s.write(0, pattern(20 * 1024 * 1024, 29));
        s.flush();
        s.write(4096, pattern(4096, 30));
        s.check_reads();
        expected = s.expected;
    }
    verify(dir, image, expected);
    const auto info = qemu_img({"info", "--output=json", image.string()});
    CHECK_THAT(info, Catch::Contains("\"format\": \"qcow2\""));
}

TEST_CASE("qcow2: internal snapshots are left as they were while the active image changes", "[unit][qcow2]")
{
    if (!have_qemu_tools()) {
        return;
    }
    TempDir dir;
    const auto image = dir / "image.qcow2";
    constexpr uint64_t kSize = 8 * 1024 * 1024;
    qemu_img({"create", "-f", "qcow2", image.string(), std::to_string(kSize)});
    qemu_io(image, "qcow2", {"write -P 0x61 0 3M", "write -P 0x62 5M 1M"});
    qemu_img({"snapshot", "-c", "before", image.string()});
    const auto before = qemu_raw(image, dir / "before.raw");
    std::vector<std::byte> expected;
    {
        // Every cluster and the L2 table are shared with the snapshot: all copy-on-write.
        Shadowed s(image, before, TestBackend::Synchronous);
        s.write(4096, pattern(8192, 41));
        s.write(1024 * 1024, pattern(2 * 1024 * 1024, 42));
        s.zero(5 * 1024 * 1024, 1024 * 1024, true);
        s.check_reads();
        expected = s.expected;
    }
    verify(dir, image, expected);
    const auto snapshot = dir / "snapshot.raw";
    qemu_img({"convert", "-l", "before", "-O", "raw", image.string(), snapshot.string()});
    CHECK(file_bytes(snapshot) == before);
}

TEST_CASE("qcow2: after a FLUSH the file alone is a consistent image with the data", "[unit][qcow2]")
{
    if (!have_qemu_tools()) {
        return;
    }
    // A copy taken right after the flush, while minivmm still runs, is what a crash at
    // that moment would leave: no corruption, maybe leaked clusters, the flushed data there.
    const auto backend = backend_under_test();
    TempDir dir;
    const auto image = dir / "image.qcow2";
    constexpr uint64_t kSize = 8 * 1024 * 1024;
    write_file(dir / "base.raw", pattern(kSize, 51));
    qemu_img({"create", "-f", "qcow2", "-o", "cluster_size=4096", "-b", "base.raw", "-F", "raw", image.string()});
    Shadowed s(image, pattern(kSize, 51), backend);
    s.write(3 * 1024 * 1024 + 512, pattern(3 * 1024 * 1024, 52));
    s.zero(512 * 1024, 256 * 1024, true);
    s.discard(7 * 1024 * 1024, 64 * 1024);
    s.flush();
    // Copied with its backing file: QEMU will not open base.raw while minivmm holds it.
    std::filesystem::create_directory(dir / "crash");
    const auto copy = dir / "crash" / "image.qcow2";
    std::filesystem::copy_file(image, copy);
    std::filesystem::copy_file(dir / "base.raw", dir / "crash" / "base.raw");
    verify(dir, copy, s.expected, true);
}

TEST_CASE("qcow2: discarding everything frees the clusters", "[unit][qcow2]")
{
    if (!have_qemu_tools()) {
        return;
    }
    TempDir dir;
    const auto image = dir / "image.qcow2";
    constexpr uint64_t kSize = 16 * 1024 * 1024;
    qemu_img({"create", "-f", "qcow2", image.string(), std::to_string(kSize)});
    {
        Shadowed s(image, std::vector<std::byte>(kSize), TestBackend::Synchronous);
        s.write(0, pattern(kSize, 61));
        s.flush();
        s.discard(0, kSize);
        s.check_reads();
        CHECK(s.expected == std::vector<std::byte>(kSize));
    }
    check_image(image);
    // What is left allocated: header, L1, refcount table and block (no data, no L2 entries used).
    const auto map = qemu_img({"map", "--output=json", image.string()});
    CHECK_THAT(map, !Catch::Contains("\"data\": true"));
}

TEST_CASE("qcow2: a small L2 cache, full of dirty tables, still loses nothing", "[unit][qcow2]")
{
    if (!have_qemu_tools()) {
        return;
    }
    // 4 KiB clusters: one L2 table maps 2 MiB; a cache of 4 tables over a 64 MiB disk makes
    // writes drop clean tables, wait for write-backs they start themselves, and read tables
    // back that a write-back just wrote.
    const auto backend = backend_under_test();
    TempDir dir;
    const auto image = dir / "image.qcow2";
    constexpr uint64_t kSize = 64 * 1024 * 1024;
    write_file(dir / "base.raw", pattern(kSize, 111));
    qemu_img({"create", "-f", "qcow2", "-o", "cluster_size=4096", "-b", "base.raw", "-F", "raw", image.string()});
    std::vector<std::byte> expected;
    {
        Shadowed s(image, pattern(kSize, 111), backend, 4 * 4096);
        std::mt19937_64 rng(112);
        for (int round = 0; round < 6; ++round) {
            std::vector<std::pair<uint64_t, std::vector<std::byte>>> writes;
            for (std::size_t i = 0; i < DeviceDisk::kSlots; ++i) {
                // Each in a different 2 MiB stretch (table), none overlapping.
                const uint64_t at = (i * 8 + rng() % 8) * 1024 * 1024 + 512 * (rng() % 1024);
                writes.emplace_back(at, random_bytes(rng, 512 * (1 + rng() % 64)));
                std::copy(writes.back().second.begin(), writes.back().second.end(),
                          s.expected.begin() + static_cast<std::ptrdiff_t>(at));
            }
            s.disk.write_many(writes);
            if (round % 2 == 1) {
                s.flush();
            }
        }
        s.check_reads();
        expected = s.expected;
    }
    verify(dir, image, expected);
}

namespace {

// Passes reads straight to a synchronous backend; holds everything else while `hold` is set,
// as a disk that is slow to write.
class HoldWrites final : public backends::BlockBackend {
public:
    HoldWrites(int fd, std::size_t depth) : inner_(fd, depth) {}
    [[nodiscard]] std::string_view name() const override { return "hold-writes"; }
    [[nodiscard]] std::size_t capacity() const override { return inner_.capacity(); }
    [[nodiscard]] std::size_t in_flight() const override { return inner_.in_flight() + held_.size(); }
    [[nodiscard]] bool submit(Tag tag, const backends::DiskOp& op) override
    {
        if (!hold || op.kind == backends::DiskOpKind::Read) {
            return inner_.submit(tag, op);
        }
        held_.push_back(Held{tag, op, std::vector<iovec>(op.iov.begin(), op.iov.end())});
        return true;
    }
    void commit() override {}
    [[nodiscard]] int completion_fd() const override { return -1; }
    void reap(std::vector<Completion>& out) override { inner_.reap(out); }
    void drain(std::vector<Completion>& out) override
    {
        release();
        inner_.drain(out);
    }
    void release()
    {
        hold = false;
        for (auto& h : held_) {
            h.op.iov = h.iov;
            REQUIRE(inner_.submit(h.tag, h.op));
        }
        held_.clear();
    }

    bool hold = false;

private:
    struct Held {
        Tag tag;
        backends::DiskOp op;
        std::vector<iovec> iov;
    };
    backends::SyncBackend inner_;
    std::vector<Held> held_;
};

// Runs the backend until op `tag` is reported; its errno.
int wait_op(backends::BlockBackend& backend, backends::BlockBackend::Tag tag,
            std::vector<backends::BlockBackend::Completion>& done)
{
    for (int i = 0; i < 1000; ++i) {
        backend.reap(done);
        const auto it = std::find_if(done.begin(), done.end(), [&](const auto& c) { return c.tag == tag; });
        if (it != done.end()) {
            const int err = it->error;
            done.erase(it);
            return err;
        }
    }
    FAIL("op " << tag << " never completed");
    return -1;
}

} // namespace

TEST_CASE("qcow2: a table being written back is not dropped and read back stale", "[unit][qcow2]")
{
    if (!have_qemu_tools()) {
        return;
    }
    TempDir dir;
    const auto image_path = dir / "image.qcow2";
    constexpr uint64_t kSize = 64 * 1024 * 1024;
    write_file(dir / "base.raw", pattern(kSize, 121));
    qemu_img({"create", "-f", "qcow2", "-o", "cluster_size=4096", "-b", "base.raw", "-F", "raw",
              image_path.string()});
    backends::DiskOptions o;
    o.path = image_path;
    auto image = backends::DiskImage::open(o);
    auto gate = std::make_unique<HoldWrites>(image.fd(), 512);
    HoldWrites& writes = *gate;
    backends::qcow2::Qcow2Backend backend(image.chain(), std::move(gate), 64, 4 * 4096); // 4 tables
    std::vector<backends::BlockBackend::Completion> done;
    const auto op = [&](backends::BlockBackend::Tag tag, backends::DiskOpKind kind, uint64_t offset,
                        std::vector<std::byte>& buffer) {
        const iovec v{buffer.data(), buffer.size()};
        const auto iov = buffer.empty() ? std::span<const iovec>{} : std::span(&v, 1);
        REQUIRE(backend.submit(tag, {.kind = kind, .offset = offset, .length = buffer.size(), .iov = iov}));
        return wait_op(backend, tag, done);
    };
    // Twelve tables on disk (written back, clean), of which the cache keeps four.
    std::vector<std::byte> sector = pattern(512, 123);
    for (uint64_t table = 1; table <= 12; ++table) {
        REQUIRE(op(10 + table, backends::DiskOpKind::Write, table * 2 * 1024 * 1024, sector) == 0);
    }
    std::vector<std::byte> none;
    REQUIRE(op(9, backends::DiskOpKind::Flush, 0, none) == 0);
    auto data = pattern(4096, 122);
    REQUIRE(op(1, backends::DiskOpKind::Write, 0, data) == 0); // table 0: new, dirty
    // A flush whose writes the disk holds: its write-back has copied table 0 and waits.
    writes.hold = true;
    REQUIRE(backend.submit(2, {.kind = backends::DiskOpKind::Flush, .offset = 0, .length = 0, .iov = {}}));
    backend.reap(done);
    // Reads of the other tables go through the cache meanwhile, dropping what it may drop.
    for (uint64_t table = 1; table <= 12; ++table) {
        REQUIRE(op(30 + table, backends::DiskOpKind::Read, table * 2 * 1024 * 1024, sector) == 0);
    }
    std::vector<std::byte> back(4096);
    REQUIRE(op(20, backends::DiskOpKind::Read, 0, back) == 0);
    CHECK(back == data);
    writes.release();
    CHECK(wait_op(backend, 2, done) == 0);
}
