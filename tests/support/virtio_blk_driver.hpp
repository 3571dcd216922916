// virtio-blk on the mock driver: temporary image files, request chains in the layouts a
// driver may use (2.6.4 framing), and a harness that runs a VirtioBlock until the used
// entries a test waits for have arrived.
#pragma once

#include "devices/virtio/block/block_spec.hpp"
#include "backends/block/io_uring_backend.hpp"
#include "backends/block/sync_backend.hpp"
#include "devices/virtio/block/virtio_block.hpp"
#include "support/virtio_driver.hpp"

#include <minivmm/vm_config.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace minivmm::test {

// `len` bytes at `offset` of a file or block device.
inline std::vector<std::byte> read_file_range(const std::filesystem::path& path, uint64_t offset, std::size_t len)
{
    std::vector<std::byte> out(len);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    const ssize_t n = ::pread(fd, out.data(), len, static_cast<off_t>(offset));
    ::close(fd);
    REQUIRE(n == static_cast<ssize_t>(len));
    return out;
}

// A file of `size` bytes in `dir`, removed when the object goes.
class TempImage {
public:
    explicit TempImage(uint64_t size, const std::filesystem::path& dir = std::filesystem::temp_directory_path())
    {
        std::string name = (dir / "minivmm-blk-XXXXXX").string();
        const int fd = ::mkstemp(name.data());
        REQUIRE(fd >= 0);
        REQUIRE(::ftruncate(fd, static_cast<off_t>(size)) == 0);
        ::close(fd);
        path = name;
    }
    ~TempImage() { std::filesystem::remove(path); }
    TempImage(const TempImage&) = delete;
    TempImage& operator=(const TempImage&) = delete;

    [[nodiscard]] std::vector<std::byte> read(uint64_t offset, std::size_t len) const
    {
        return read_file_range(path, offset, len);
    }
    void write(uint64_t offset, std::span<const std::byte> data) const
    {
        const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
        REQUIRE(fd >= 0);
        const ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
        ::close(fd);
        REQUIRE(n == static_cast<ssize_t>(data.size()));
    }
    [[nodiscard]] backends::DiskOptions config(bool readonly = false, DiskCache cache = DiskCache::Writeback) const
    {
        return backends::DiskOptions{path, readonly, "minivmm-test-serial", cache == DiskCache::None};
    }

    std::filesystem::path path;
};

// A recognisable pattern: byte i of `seed` differs from its neighbours and other seeds.
inline std::vector<std::byte> pattern(std::size_t len, unsigned seed)
{
    std::vector<std::byte> out(len);
    for (std::size_t i = 0; i < len; ++i) {
        out[i] = static_cast<std::byte>((i * 7 + seed * 31 + (i >> 9)) & 0xff);
    }
    return out;
}

enum class Layout {
    Separate, // header | data | status, one descriptor each
    Merged,   // OUT: header+data | status; IN: header | data+status (unaligned data)
    Split,    // header split 10+6, data in three pieces (the first 100 bytes), status
    Indirect, // Separate, through an indirect table
};

inline const char* to_string(Layout layout)
{
    switch (layout) {
    case Layout::Separate: return "separate";
    case Layout::Merged: return "merged";
    case Layout::Split: return "split";
    case Layout::Indirect: return "indirect";
    }
    return "?";
}

struct BlkChain {
    uint16_t head = 0;
    memory::GuestAddress data; // data_len bytes, contiguous in guest RAM whatever the layout
    uint32_t data_len = 0;
    memory::GuestAddress status;
};

// Writes a request of `type` for `sector` with `data_len` bytes of data (device-writable
// when `data_writable`) and offers it. The status byte starts as 0xee.
inline BlkChain offer_blk(VirtioDriver& d, uint32_t type, uint64_t sector, uint32_t data_len, bool data_writable,
                          Layout layout = Layout::Separate)
{
    using Buffer = VirtioDriver::Buffer;
    const virtio::BlkReqHeader header{type, 0, sector};
    BlkChain c;
    c.data_len = data_len;
    std::vector<Buffer> buffers;
    if (layout == Layout::Merged) {
        const memory::GuestAddress block = d.alloc(16 + uint64_t{data_len} + 1, 4096);
        d.memory.write_obj(block, header);
        c.data = block + 16;
        c.status = block + 16 + data_len;
        if (data_writable) {
            buffers = {{block, 16, false}, {c.data, data_len + 1, true}};
        } else {
            buffers = {{block, 16 + data_len, false}, {c.status, 1, true}};
        }
    } else {
        const memory::GuestAddress h = d.alloc(16);
        d.memory.write_obj(h, header);
        c.data = d.alloc(data_len, 4096);
        c.status = d.alloc(1);
        if (layout == Layout::Split) {
            buffers = {{h, 10, false}, {h + 10, 6, false}};
        } else {
            buffers = {{h, 16, false}};
        }
        if (data_len > 0) {
            if (layout == Layout::Split && data_len > 200) {
                const uint32_t rest = data_len - 100;
                buffers.push_back({c.data, 100, data_writable});
                buffers.push_back({c.data + 100, rest / 2, data_writable});
                buffers.push_back({c.data + 100 + rest / 2, rest - rest / 2, data_writable});
            } else {
                buffers.push_back({c.data, data_len, data_writable});
            }
        }
        buffers.push_back({c.status, 1, true});
    }
    d.memory.write_obj(c.status, uint8_t{0xee});
    c.head = d.offer(buffers, layout == Layout::Indirect);
    return c;
}

enum class TestBackend { Synchronous, IoUring };

inline const char* to_string(TestBackend b) { return b == TestBackend::IoUring ? "io_uring" : "synchronous"; }

// The backend, or nullptr (after a WARN) when io_uring is not available here.
inline std::unique_ptr<backends::BlockBackend> make_test_backend(int fd, std::size_t depth, TestBackend kind)
{
    if (kind == TestBackend::Synchronous) {
        return std::make_unique<backends::SyncBackend>(fd, depth);
    }
    std::string why_not;
    auto backend = backends::IoUringBackend::create(fd, depth, why_not);
    if (!backend) {
        WARN("io_uring unavailable, skipping: " << why_not);
    }
    return backend;
}

inline constexpr uint64_t kAllBlkFeatures = virtio::kBlkFFlush | virtio::kBlkFDiscard | virtio::kBlkFWriteZeroes |
                                            virtio::kBlkFSegMax | virtio::kBlkFBlkSize | virtio::kFIndirectDesc |
                                            virtio::kFVersion1;

// A VirtioBlock on the mock driver's queue, attached and activated.
struct BlkHarness {
    // nullptr when the backend is not available (the test should return).
    static std::unique_ptr<BlkHarness> make(const backends::DiskOptions& config, TestBackend backend,
                                            std::size_t depth = virtio::VirtioBlock::kQueueSize, uint16_t queue_size = 32,
                                            bool event_idx = false, uint64_t features = kAllBlkFeatures)
    {
        auto image = backends::DiskImage::open(config);
        auto disk_backend = make_test_backend(image.fd(), depth, backend);
        if (!disk_backend) {
            return nullptr;
        }
        return std::make_unique<BlkHarness>(std::move(image), std::move(disk_backend), queue_size, event_idx, features);
    }

    BlkHarness(backends::DiskImage image, std::unique_ptr<backends::BlockBackend> backend, uint16_t queue_size,
               bool event_idx, uint64_t features)
        : driver(queue_size, event_idx),
          device(std::make_unique<virtio::VirtioBlock>(std::move(image), std::move(backend), driver.memory))
    {
        device->attach(context);
        activate(features | (event_idx ? virtio::kFEventIdx : 0));
    }

    void activate(uint64_t features) { device->activate(features, driver.queues()); }
    void kick() { device->queue_notify(0); }

    // Kicks, then runs completion handlers until `count` used entries arrived (5 s at most).
    std::vector<VirtioDriver::Used> run_until(std::size_t count)
    {
        kick();
        return wait_for(count);
    }
    std::vector<VirtioDriver::Used> wait_for(std::size_t count)
    {
        std::vector<VirtioDriver::Used> used = driver.take_used();
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (used.size() < count && std::chrono::steady_clock::now() < deadline) {
            context.poll_once(std::chrono::milliseconds(20));
            for (const auto& u : driver.take_used()) {
                used.push_back(u);
            }
        }
        return used;
    }
    [[nodiscard]] uint8_t status(const BlkChain& c) const { return driver.memory.read_obj<uint8_t>(c.status); }
    [[nodiscard]] std::vector<std::byte> data(const BlkChain& c) const
    {
        std::vector<std::byte> out(c.data_len);
        driver.memory.read(c.data, out);
        return out;
    }

    VirtioDriver driver;
    FakeVirtioContext context;
    std::unique_ptr<virtio::VirtioBlock> device;
};

} // namespace minivmm::test
