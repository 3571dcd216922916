// libFuzzer target: the qcow2 parser, the open-time checks and the read/write path on images
// the fuzzer makes, through the same DiskImage::open and backend as a VM's disk.
//
// Input: u8 flags (bit 0 writable, bit 1 snapshot=on, bit 2 lock=off, bit 3 a second image
// follows), u32 image length N (capped at kMaxImage), N bytes written as the image file
// "image.qcow2"; with bit 3, u32 length M and M bytes written as "base.qcow2" (otherwise
// there is no such file). Next to them is a 1 MiB raw file, "backing.raw". Either image may
// name any of the three (or itself) as its backing file. Then up to kMaxOps ops until the
// input ends:
//   u8 kind (% 6: read, write, write-zeroes, write-zeroes+unmap, discard, flush),
//   u32 sector, u16 sectors (both taken modulo the disk), u8 fill byte for writes.
// Invariants checked, beyond "no crash, no sanitizer report": a sector read back is what the
// last write or write-zeroes put there (discarded ranges may read anything; every written
// sector carries its own number, so data that lands in the wrong place is caught), and an
// image this run wrote and flushed opens again, writable, with the same contents.
//
// Speed (issue 13: >= 3,000 exec/s under ASan): the files live on tmpfs, snapshot overlays
// too (TMPDIR is pointed there), and what the target keeps per run is small and reused: the
// shadow holds one state per sector (the write pattern is a function of sector and fill
// byte), not a copy of the disk.
#include "backends/block/disk_backend.hpp"
#include "fuzz_support.hpp"

#include <minivmm/error.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

namespace {

using namespace minivmm;

constexpr std::size_t kMaxImage = 1 << 20;
constexpr uint64_t kMaxDisk = 8 << 20; // bytes of the disk the ops reach
constexpr uint64_t kSector = 512;
constexpr uint64_t kMaxOpSectors = 256;
// Ops per input: enough to fill L2 tables and refcount blocks of small-cluster images (one
// write allocates up to 256 clusters), few enough that a mutation which turns image bytes
// into ops does not make a run of thousands of 128 KiB requests.
constexpr int kMaxOps = 64;

// Every run writes its images and opens them: on tmpfs (/dev/shm, unless TMPDIR says where)
// that costs microseconds; on a disk filesystem it was ~12x slower (638 against 8142 exec/s).
std::filesystem::path scratch_parent()
{
    std::error_code ec;
    if (std::getenv("TMPDIR") == nullptr && std::filesystem::is_directory("/dev/shm", ec)) {
        return "/dev/shm";
    }
    return std::filesystem::temp_directory_path();
}

void write_file(const std::filesystem::path& path, std::span<const uint8_t> bytes)
{
    const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0 || ::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
        std::abort();
    }
    ::close(fd);
}

const std::filesystem::path& work_dir()
{
    static const std::filesystem::path dir = [] {
        std::string name = (scratch_parent() / "minivmm-fuzz-qcow2-XXXXXX").string();
        if (::mkdtemp(name.data()) == nullptr) {
            std::abort();
        }
        std::vector<uint8_t> backing(1 << 20);
        for (std::size_t i = 0; i < backing.size(); ++i) {
            backing[i] = static_cast<uint8_t>(i * 13 + (i >> 9));
        }
        write_file(std::filesystem::path(name) / "backing.raw", backing);
        std::atexit([] { std::filesystem::remove_all(work_dir()); });
        // snapshot=on puts its temporary overlay in $TMPDIR (else /var/tmp, a disk): here.
        ::setenv("TMPDIR", name.c_str(), 1);
        return std::filesystem::path(name);
    }();
    return dir;
}

// What a write with fill byte `fill` puts in `sector`: the sector's number (each byte xor
// `fill`) in the first 8 bytes, then `fill`.
void pattern(std::byte* out, uint64_t sector, uint8_t fill)
{
    std::memset(out, fill, kSector);
    uint64_t stamp = sector ^ (0x0101010101010101ULL * fill);
    std::memcpy(out, &stamp, sizeof(stamp));
}

// One op on the backend, run to its end (synchronous I/O: done when reaped).
int run(backends::BlockBackend& backend, const backends::DiskOp& op)
{
    if (!backend.submit(1, op)) {
        std::abort(); // nothing else is in flight
    }
    backend.commit();
    static std::vector<backends::BlockBackend::Completion> done; // reused: no allocation per op
    done.clear();
    backend.drain(done);
    if (done.size() != 1 || done[0].tag != 1) {
        std::abort();
    }
    return done[0].error;
}

// What the disk is known to hold, by sector: what this run last wrote or zeroed there.
class Shadow {
public:
    static constexpr int16_t kUnknown = -1;
    static constexpr int16_t kZero = 256; // 0..255: pattern() with that fill byte

    void reset(uint64_t sectors) { state_.assign(sectors, kUnknown); } // keeps its capacity
    [[nodiscard]] uint64_t sectors() const { return state_.size(); }
    [[nodiscard]] bool known(uint64_t sector) const { return state_[sector] != kUnknown; }
    void set(uint64_t first, uint64_t count, int16_t state)
    {
        std::fill_n(state_.begin() + static_cast<std::ptrdiff_t>(first), count, state);
    }
    void forget(uint64_t first, uint64_t count) { set(first, count, kUnknown); }
    // Aborts if a known sector of [first, first + count) differs from `data`.
    void check(uint64_t first, uint64_t count, const std::byte* data) const
    {
        static const std::array<std::byte, kSector> zeros{};
        std::array<std::byte, kSector> expected{};
        for (uint64_t s = first; s < first + count; ++s) {
            const int16_t state = state_[s];
            if (state == kUnknown) {
                continue;
            }
            const std::byte* want = zeros.data();
            if (state != kZero) {
                pattern(expected.data(), s, static_cast<uint8_t>(state));
                want = expected.data();
            }
            if (std::memcmp(want, data + (s - first) * kSector, kSector) != 0) {
                std::fprintf(stderr, "fuzz_qcow2: sector %llu does not hold what was written\n",
                             static_cast<unsigned long long>(s));
                std::abort();
            }
        }
    }

private:
    std::vector<int16_t> state_;
};

std::vector<std::byte>& op_buffer()
{
    static std::vector<std::byte> buffer(kMaxOpSectors * kSector);
    return buffer;
}

void exercise(backends::BlockBackend& backend, fuzz::Input& in, Shadow& shadow)
{
    const uint64_t sectors = shadow.sectors();
    std::byte* buffer = op_buffer().data();
    for (int ops = 0; !in.empty() && sectors > 0 && ops < kMaxOps; ++ops) {
        const auto kind = in.take<uint8_t>() % 6;
        const uint64_t sector = in.take<uint32_t>() % sectors;
        const uint64_t count = 1 + in.take<uint16_t>() % std::min(kMaxOpSectors, sectors - sector);
        const auto fill = in.take<uint8_t>();
        const uint64_t offset = sector * kSector;
        const uint64_t length = count * kSector;
        const iovec v{buffer, static_cast<std::size_t>(length)};
        backends::DiskOp op{.kind = backends::DiskOpKind::Read, .offset = offset, .length = length, .iov = {}};
        switch (kind) {
        case 0:
            op.iov = std::span(&v, 1);
            if (run(backend, op) == 0) {
                shadow.check(sector, count, buffer);
            }
            break;
        case 1:
            for (uint64_t i = 0; i < count; ++i) {
                pattern(buffer + i * kSector, sector + i, fill);
            }
            op.kind = backends::DiskOpKind::Write;
            op.iov = std::span(&v, 1);
            if (run(backend, op) == 0) {
                shadow.set(sector, count, fill);
            } else {
                shadow.forget(sector, count);
            }
            break;
        case 2:
        case 3:
            op.kind = kind == 2 ? backends::DiskOpKind::WriteZeroes : backends::DiskOpKind::WriteZeroesUnmap;
            if (run(backend, op) == 0) {
                shadow.set(sector, count, Shadow::kZero);
            } else {
                shadow.forget(sector, count);
            }
            break;
        case 4:
            op.kind = backends::DiskOpKind::Discard;
            (void)run(backend, op);
            shadow.forget(sector, count);
            break;
        default:
            op.kind = backends::DiskOpKind::Flush;
            op.length = 0;
            (void)run(backend, op);
            break;
        }
    }
}

// The image minivmm wrote and flushed opens again (writable: every check) and holds what the
// shadow knows. Only the sectors this run wrote or zeroed: the rest is the input's (it may be
// compressed garbage that never read).
void check_reopened(const backends::DiskOptions& options, const Shadow& shadow)
{
    try {
        auto image = backends::DiskImage::open(options);
        auto backend = backends::make_disk_backend(image, 64, backends::BlockBackendKind::Synchronous);
        std::byte* buffer = op_buffer().data();
        const uint64_t end = shadow.sectors();
        for (uint64_t at = 0; at < end;) {
            if (!shadow.known(at)) {
                ++at;
                continue;
            }
            uint64_t n = 1;
            while (at + n < end && n < kMaxOpSectors && shadow.known(at + n)) {
                ++n;
            }
            const iovec v{buffer, static_cast<std::size_t>(n * kSector)};
            if (const int err = run(*backend, {.kind = backends::DiskOpKind::Read, .offset = at * kSector,
                                               .length = n * kSector, .iov = std::span(&v, 1)});
                err != 0) {
                std::fprintf(stderr, "fuzz_qcow2: reading back sector %llu failed: %s\n",
                             static_cast<unsigned long long>(at), std::strerror(err));
                std::abort();
            }
            shadow.check(at, n, buffer);
            at += n;
        }
    } catch (const Error& e) {
        std::fprintf(stderr, "fuzz_qcow2: the image minivmm wrote is refused: %s\n", e.what());
        std::abort();
    }
}

// The image file, open for the whole process: each run rewrites it in place and cuts it to
// its new length, so tmpfs keeps the pages the runs share (O_TRUNC freed them all).
void rewrite_image(const std::filesystem::path& path, std::span<const uint8_t> bytes)
{
    static const int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 || ::pwrite(fd, bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size()) ||
        ::ftruncate(fd, static_cast<off_t>(bytes.size())) != 0) {
        std::abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/)
{
    if (std::getenv("FUZZ_QCOW2_LOGS") == nullptr) {
        fuzz::silence_logs();
    }
    (void)work_dir(); // before the first input: it moves TMPDIR
    return 0;
}


extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    fuzz::Input in(data, size);
    const auto flags = in.take<uint8_t>();
    const auto path = work_dir() / "image.qcow2";
    rewrite_image(path, in.bytes(std::min<std::size_t>(in.take<uint32_t>(), kMaxImage)));
    // A second qcow2 image for backing chains; left over from an earlier run it would make
    // runs differ.
    static bool base_exists = false;
    const auto base = work_dir() / "base.qcow2";
    if ((flags & 8) != 0) {
        write_file(base, in.bytes(std::min<std::size_t>(in.take<uint32_t>(), kMaxImage)));
        base_exists = true;
    } else if (base_exists) {
        ::unlink(base.c_str());
        base_exists = false;
    }

    backends::DiskOptions options;
    options.path = path;
    options.format = backends::DiskFormat::Qcow2;
    options.readonly = (flags & 1) == 0;
    options.snapshot = (flags & 2) != 0;
    options.lock = (flags & 4) == 0;
    static Shadow shadow; // reused: its storage is allocated once
    bool wrote = false;
    try {
        auto image = backends::DiskImage::open(options);
        shadow.reset(std::min(image.size_bytes(), kMaxDisk) / kSector);
        auto backend = backends::make_disk_backend(image, 64, backends::BlockBackendKind::Synchronous);
        exercise(*backend, in, shadow);
        // Only what a successful flush made durable must be there after reopening.
        const int flushed = run(*backend, {.kind = backends::DiskOpKind::Flush, .offset = 0, .length = 0, .iov = {}});
        wrote = !options.readonly && !options.snapshot && flushed == 0;
    } catch (const Error&) {
        return 0; // refused with a message: fine
    }
    if (wrote) {
        options.snapshot = false;
        check_reopened(options, shadow);
    }
    return 0;
}
