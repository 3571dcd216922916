// libFuzzer target: the qcow2 parser, the open-time checks and the read/write path on images
// the fuzzer makes, through the same DiskImage::open and backend as a VM's disk.
//
// Input: u8 flags (bit 0 writable, bit 1 snapshot=on), u32 image length N (capped at
// kMaxImage), N bytes written as the image file (next to a 1 MiB raw file named
// "backing.raw" that an image may name as its backing file), then ops until the input ends:
//   u8 kind (% 6: read, write, write-zeroes, write-zeroes+unmap, discard, flush),
//   u32 sector, u16 sectors (both taken modulo the disk), u8 fill byte for writes.
// Invariants checked, beyond "no crash, no sanitizer report": a byte read back is what the
// last write or write-zeroes put there (discarded ranges may read anything), and an image
// this run wrote and flushed opens again, writable, with the same contents.
#include "backends/block/disk_backend.hpp"
#include "fuzz_support.hpp"

#include <minivmm/error.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

namespace {

using namespace minivmm;

constexpr std::size_t kMaxImage = 1 << 20;
constexpr uint64_t kMaxDisk = 8 << 20; // bytes of the disk the ops reach
constexpr uint64_t kMaxOpSectors = 256;

// Every run writes its image and opens it: on tmpfs (/dev/shm, unless TMPDIR says where)
// that costs microseconds; on a disk filesystem it was ~12x slower (638 against 8142 exec/s).
std::filesystem::path scratch_parent()
{
    std::error_code ec;
    if (std::getenv("TMPDIR") == nullptr && std::filesystem::is_directory("/dev/shm", ec)) {
        return "/dev/shm";
    }
    return std::filesystem::temp_directory_path();
}

const std::filesystem::path& work_dir()
{
    static const std::filesystem::path dir = [] {
        std::string name = (scratch_parent() / "minivmm-fuzz-qcow2-XXXXXX").string();
        if (::mkdtemp(name.data()) == nullptr) {
            std::abort();
        }
        std::vector<std::byte> backing(1 << 20);
        for (std::size_t i = 0; i < backing.size(); ++i) {
            backing[i] = static_cast<std::byte>(i * 13 + (i >> 9));
        }
        const int fd = ::open((std::filesystem::path(name) / "backing.raw").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0 || ::write(fd, backing.data(), backing.size()) != static_cast<ssize_t>(backing.size())) {
            std::abort();
        }
        ::close(fd);
        std::atexit([] { std::filesystem::remove_all(work_dir()); });
        return std::filesystem::path(name);
    }();
    return dir;
}

void write_image(const std::filesystem::path& path, std::span<const uint8_t> bytes)
{
    const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0 || ::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
        std::abort();
    }
    ::close(fd);
}

// One op on the backend, run to its end (synchronous I/O: done when reaped).
int run(backends::BlockBackend& backend, const backends::DiskOp& op)
{
    if (!backend.submit(1, op)) {
        std::abort(); // nothing else is in flight
    }
    backend.commit();
    std::vector<backends::BlockBackend::Completion> done;
    backend.drain(done);
    if (done.size() != 1 || done[0].tag != 1) {
        std::abort();
    }
    return done[0].error;
}

// What the disk is known to hold, by sector: what this run last wrote or zeroed there.
struct Shadow {
    std::vector<bool> known;
    std::vector<std::byte> bytes;

    void resize(uint64_t disk_bytes)
    {
        known.assign(disk_bytes / 512, false);
        bytes.assign(known.size() * 512, std::byte{0});
    }
    void set(uint64_t offset, uint64_t length, const std::byte* data)
    {
        for (uint64_t s = offset / 512; s < (offset + length) / 512; ++s) {
            known[s] = true;
        }
        if (data == nullptr) {
            std::memset(bytes.data() + offset, 0, length);
        } else {
            std::memcpy(bytes.data() + offset, data, length);
        }
    }
    void forget(uint64_t offset, uint64_t length)
    {
        for (uint64_t s = offset / 512; s < (offset + length) / 512; ++s) {
            known[s] = false;
        }
    }
    // Aborts if a known sector of [offset, offset + length) differs from `data`.
    void check(uint64_t offset, uint64_t length, const std::byte* data) const
    {
        for (uint64_t s = offset / 512; s < (offset + length) / 512; ++s) {
            if (known[s] && std::memcmp(bytes.data() + s * 512, data + (s * 512 - offset), 512) != 0) {
                std::fprintf(stderr, "fuzz_qcow2: sector %llu does not hold what was written\n",
                             static_cast<unsigned long long>(s));
                std::abort();
            }
        }
    }
};

void exercise(backends::BlockBackend& backend, uint64_t disk_bytes, fuzz::Input& in, Shadow& shadow)
{
    const uint64_t sectors = std::min(disk_bytes, kMaxDisk) / 512;
    std::vector<std::byte> buffer(kMaxOpSectors * 512);
    while (!in.empty() && sectors > 0) {
        const auto kind = in.take<uint8_t>() % 6;
        const uint64_t sector = in.take<uint32_t>() % sectors;
        const uint64_t count = 1 + in.take<uint16_t>() % std::min(kMaxOpSectors, sectors - sector);
        const auto fill = in.take<uint8_t>();
        const uint64_t offset = sector * 512;
        const uint64_t length = count * 512;
        const iovec v{buffer.data(), static_cast<std::size_t>(length)};
        backends::DiskOp op{.kind = backends::DiskOpKind::Read, .offset = offset, .length = length, .iov = {}};
        switch (kind) {
        case 0:
            op.iov = std::span(&v, 1);
            if (run(backend, op) == 0) {
                shadow.check(offset, length, buffer.data());
            }
            break;
        case 1:
            std::memset(buffer.data(), fill, length);
            op.kind = backends::DiskOpKind::Write;
            op.iov = std::span(&v, 1);
            if (run(backend, op) == 0) {
                shadow.set(offset, length, buffer.data());
            } else {
                shadow.forget(offset, length);
            }
            break;
        case 2:
        case 3:
            op.kind = kind == 2 ? backends::DiskOpKind::WriteZeroes : backends::DiskOpKind::WriteZeroesUnmap;
            if (run(backend, op) == 0) {
                shadow.set(offset, length, nullptr);
            } else {
                shadow.forget(offset, length);
            }
            break;
        case 4:
            op.kind = backends::DiskOpKind::Discard;
            (void)run(backend, op);
            shadow.forget(offset, length);
            break;
        default:
            op.kind = backends::DiskOpKind::Flush;
            op.length = 0;
            (void)run(backend, op);
            break;
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (std::getenv("FUZZ_QCOW2_LOGS") == nullptr) {
        fuzz::silence_logs();
    }
    fuzz::Input in(data, size);
    const auto flags = in.take<uint8_t>();
    const auto length = std::min<std::size_t>(in.take<uint32_t>(), kMaxImage);
    const auto path = work_dir() / "image.qcow2";
    write_image(path, in.bytes(length));

    backends::DiskOptions options;
    options.path = path;
    options.format = backends::DiskFormat::Qcow2;
    options.readonly = (flags & 1) == 0;
    options.snapshot = (flags & 2) != 0;
    Shadow shadow;
    bool wrote = false;
    try {
        auto image = backends::DiskImage::open(options);
        shadow.resize(std::min(image.size_bytes(), kMaxDisk));
        auto backend = backends::make_disk_backend(image, 64, backends::BlockBackendKind::Synchronous);
        exercise(*backend, image.size_bytes(), in, shadow);
        // Only what a successful flush made durable must be there after reopening.
        const int flushed = run(*backend, {.kind = backends::DiskOpKind::Flush, .offset = 0, .length = 0, .iov = {}});
        wrote = !options.readonly && !options.snapshot && flushed == 0;
    } catch (const Error&) {
        return 0; // refused with a message: fine
    }
    if (wrote) {
        // What this run left behind must open (for writing: all checks) as cleanly as it did,
        // and hold what was written.
        options.snapshot = false;
        try {
            auto image = backends::DiskImage::open(options);
            auto backend = backends::make_disk_backend(image, 64, backends::BlockBackendKind::Synchronous);
            // Only the sectors this run wrote or zeroed: the rest is the input's (it may be
            // compressed garbage that never read).
            std::vector<std::byte> buffer(64 * 1024);
            const uint64_t end = shadow.known.size() * 512;
            for (uint64_t at = 0; at < end;) {
                if (!shadow.known[at / 512]) {
                    at += 512;
                    continue;
                }
                uint64_t n = 512;
                while (at + n < end && n < buffer.size() && shadow.known[(at + n) / 512]) {
                    n += 512;
                }
                const iovec v{buffer.data(), static_cast<std::size_t>(n)};
                if (const int err = run(*backend, {.kind = backends::DiskOpKind::Read, .offset = at, .length = n,
                                                   .iov = std::span(&v, 1)});
                    err != 0) {
                    std::fprintf(stderr, "fuzz_qcow2: reading back at %llu failed: %s\n",
                                 static_cast<unsigned long long>(at), std::strerror(err));
                    std::abort();
                }
                shadow.check(at, n, buffer.data());
                at += n;
            }
        } catch (const Error& e) {
            std::fprintf(stderr, "fuzz_qcow2: the image minivmm wrote is refused: %s\n", e.what());
            std::abort();
        }
    }
    return 0;
}
