// Disk images made with qemu-img for the qcow2 tests, and a virtio-blk disk on the mock
// driver that reads and writes whole ranges (one request at a time, or many in flight) with
// buffers it reuses, so a test can go over a whole image.
#pragma once

#include "backends/block/disk_backend.hpp"
#include "backends/block/qcow2/qcow2_backend.hpp"
#include "support/file_contents.hpp"
#include "support/run_process.hpp"
#include "support/virtio_blk_driver.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace minivmm::test {

inline constexpr const char* kQemuImg = "/usr/bin/qemu-img";
inline constexpr const char* kQemuIo = "/usr/bin/qemu-io";

// False (after a WARN naming what to install) when qemu-img and qemu-io are missing.
inline bool have_qemu_tools()
{
    if (::access(kQemuImg, X_OK) == 0 && ::access(kQemuIo, X_OK) == 0) {
        return true;
    }
    WARN("qemu-img/qemu-io not installed (apt-get install qemu-utils): skipped");
    return false;
}

// Runs a tool; the test fails, showing its output, unless it exits 0. Returns stdout.
inline std::string run_tool(const std::vector<std::string>& argv)
{
    const auto r = run_process(argv, std::chrono::seconds(120));
    INFO("command: " << argv.front() << " ... stderr: " << r.err << " stdout: " << r.out);
    REQUIRE(r.exit_code == 0);
    return r.out;
}

inline std::string qemu_img(std::vector<std::string> args)
{
    args.insert(args.begin(), kQemuImg);
    return run_tool(args);
}

// qemu-io commands ("write -P 0xab 0 64k") on an image of `format`.
inline void qemu_io(const std::filesystem::path& image, const std::string& format, const std::vector<std::string>& commands)
{
    std::vector<std::string> argv{kQemuIo, "-f", format};
    for (const auto& c : commands) {
        argv.push_back("-c");
        argv.push_back(c);
    }
    argv.push_back(image.string());
    run_tool(argv);
}

enum class Access { ReadWrite, ReadOnly, Snapshot };

// DiskOptions for `path`: writable, readonly=on or snapshot=on.
inline backends::DiskOptions disk_options(const std::filesystem::path& path, Access access = Access::ReadWrite)
{
    backends::DiskOptions o;
    o.path = path;
    o.readonly = access == Access::ReadOnly;
    o.snapshot = access == Access::Snapshot;
    return o;
}

// A directory of its own under the temporary directory, removed with everything in it.
class TempDir {
public:
    explicit TempDir(const std::filesystem::path& under = std::filesystem::temp_directory_path())
    {
        std::string name = (under / "minivmm-qcow2-XXXXXX").string();
        REQUIRE(::mkdtemp(name.data()) != nullptr);
        path = name;
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    [[nodiscard]] std::filesystem::path operator/(const std::string& name) const { return path / name; }

    std::filesystem::path path;
};

inline std::vector<std::byte> file_bytes(const std::filesystem::path& path)
{
    return test::file_contents_bytes(path);
}

inline void write_file(const std::filesystem::path& path, std::span<const std::byte> data)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size())); // bytes as chars
    REQUIRE(out.good());
}

// What QEMU says the image holds: `qemu-img convert -O raw`.
inline std::vector<std::byte> qemu_raw(const std::filesystem::path& image, const std::filesystem::path& scratch)
{
    qemu_img({"convert", "-O", "raw", image.string(), scratch.string()});
    auto bytes = file_bytes(scratch);
    std::filesystem::remove(scratch);
    return bytes;
}

// `qemu-img check` of an image: exit 0 with no errors and, unless allowed, no leaks.
inline void check_image(const std::filesystem::path& image, bool leaks_allowed = false)
{
    const auto r = run_process({kQemuImg, "check", image.string()}, std::chrono::seconds(120));
    INFO("qemu-img check " << image.string() << ":\n" << r.out << r.err);
    CHECK(r.exit_code == (leaks_allowed && r.exit_code == 3 ? 3 : 0));
    CHECK(r.out.find("ERROR") == std::string::npos);
    CHECK(r.out.find("corrupt") == std::string::npos);
}

// A disk through the device, whatever its format (make_disk_backend).
class DeviceDisk {
public:
    static constexpr uint32_t kChunk = 1024 * 1024; // bytes per request
    static constexpr std::size_t kSlots = 8;        // requests kept in flight by read_all/write_all

    // `l2_cache_bytes` (a qcow2 disk): the top image's L2 cache, instead of the default.
    explicit DeviceDisk(const backends::DiskOptions& options, TestBackend kind = TestBackend::Synchronous,
                        std::optional<uint64_t> l2_cache_bytes = std::nullopt)
        : driver(64, false)
    {
        auto image = backends::DiskImage::open(options);
        const auto backend_kind =
            kind == TestBackend::IoUring ? backends::BlockBackendKind::IoUring : backends::BlockBackendKind::Synchronous;
        std::unique_ptr<backends::BlockBackend> backend;
        if (l2_cache_bytes) {
            REQUIRE(image.through_qcow2());
            backend = std::make_unique<backends::qcow2::Qcow2Backend>(
                image.chain(), backends::make_block_backend(image.fd(), 2 * virtio::VirtioBlock::kQueueSize, backend_kind),
                virtio::VirtioBlock::kQueueSize, *l2_cache_bytes);
        } else {
            backend = backends::make_disk_backend(image, virtio::VirtioBlock::kQueueSize, backend_kind);
        }
        size = image.size_bytes();
        device = std::make_unique<virtio::VirtioBlock>(std::move(image), std::move(backend), driver.memory);
        device->attach(context);
        device->activate(kAllBlkFeatures, driver.queues());
        for (std::size_t i = 0; i < kSlots; ++i) {
            slots.push_back(Slot{driver.alloc(16), driver.alloc(kChunk, 4096), driver.alloc(1)});
        }
    }
    ~DeviceDisk()
    {
        if (device) {
            (void)device->quiesce();
        }
    }
    DeviceDisk(const DeviceDisk&) = delete;
    DeviceDisk& operator=(const DeviceDisk&) = delete;

    // Quiesces and destroys the device (the image is closed afterwards); throws if the final
    // flush failed.
    void close()
    {
        if (const auto failure = device->quiesce()) {
            throw std::runtime_error(*failure);
        }
        device.reset();
    }

    // One request of `type` per chunk of [offset, offset + len), kSlots at a time; every
    // status must be OK. `data` is read from (OUT) or written to (IN).
    void transfer(uint32_t type, uint64_t offset, std::span<std::byte> data)
    {
        REQUIRE(offset % 512 == 0);
        REQUIRE(data.size() % 512 == 0);
        for (uint64_t at = 0; at < data.size();) {
            std::vector<std::pair<std::size_t, uint64_t>> batch; // slot, data offset
            for (std::size_t s = 0; s < kSlots && at < data.size(); ++s) {
                const auto n = static_cast<uint32_t>(std::min<uint64_t>(kChunk, data.size() - at));
                const Slot& slot = slots[s];
                driver.memory.write_obj(slot.header, virtio::BlkReqHeader{type, 0, (offset + at) / 512});
                driver.memory.write_obj(slot.status, uint8_t{0xee});
                if (type == virtio::kBlkTOut) {
                    driver.memory.write(slot.data, data.subspan(at, n));
                }
                const bool in = type == virtio::kBlkTIn;
                driver.offer({{slot.header, 16, false}, {slot.data, n, in}, {slot.status, 1, true}});
                batch.emplace_back(s, at);
                at += n;
            }
            device->queue_notify(0);
            wait_for(batch.size());
            for (const auto& [s, data_at] : batch) {
                INFO("request at byte " << offset + data_at);
                REQUIRE(driver.memory.read_obj<uint8_t>(slots[s].status) == virtio::kBlkSOk);
                if (type == virtio::kBlkTIn) {
                    const auto n = std::min<uint64_t>(kChunk, data.size() - data_at);
                    driver.memory.read(slots[s].data, data.subspan(data_at, n));
                }
            }
        }
    }
    [[nodiscard]] std::vector<std::byte> read(uint64_t offset, uint64_t len)
    {
        std::vector<std::byte> out(len);
        transfer(virtio::kBlkTIn, offset, out);
        return out;
    }
    void write(uint64_t offset, std::vector<std::byte> data) { transfer(virtio::kBlkTOut, offset, data); }

    // Up to kSlots writes of at most kChunk bytes each, all in flight at once (the ranges
    // should not overlap: their order is undefined).
    void write_many(const std::vector<std::pair<uint64_t, std::vector<std::byte>>>& writes)
    {
        REQUIRE(writes.size() <= kSlots);
        for (std::size_t s = 0; s < writes.size(); ++s) {
            const auto& [offset, data] = writes[s];
            const Slot& slot = slots[s];
            driver.memory.write_obj(slot.header, virtio::BlkReqHeader{virtio::kBlkTOut, 0, offset / 512});
            driver.memory.write_obj(slot.status, uint8_t{0xee});
            driver.memory.write(slot.data, data);
            driver.offer({{slot.header, 16, false}, {slot.data, static_cast<uint32_t>(data.size()), false},
                          {slot.status, 1, true}});
        }
        device->queue_notify(0);
        wait_for(writes.size());
        for (std::size_t s = 0; s < writes.size(); ++s) {
            REQUIRE(driver.memory.read_obj<uint8_t>(slots[s].status) == virtio::kBlkSOk);
        }
    }

    // A request without data (FLUSH) or with one DISCARD/WRITE_ZEROES segment; its status.
    uint8_t command(uint32_t type, uint64_t offset = 0, uint64_t len = 0, uint32_t flags = 0)
    {
        const Slot& slot = slots[0];
        driver.memory.write_obj(slot.header, virtio::BlkReqHeader{type, 0, 0});
        driver.memory.write_obj(slot.status, uint8_t{0xee});
        if (type == virtio::kBlkTFlush) {
            driver.offer({{slot.header, 16, false}, {slot.status, 1, true}});
        } else {
            const virtio::BlkDiscardSegment seg{offset / 512, static_cast<uint32_t>(len / 512), flags};
            driver.memory.write_obj(slot.data, seg);
            driver.offer({{slot.header, 16, false}, {slot.data, 16, false}, {slot.status, 1, true}});
        }
        device->queue_notify(0);
        wait_for(1);
        return driver.memory.read_obj<uint8_t>(slot.status);
    }

    void wait_for(std::size_t count)
    {
        std::size_t got = driver.take_used().size();
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (got < count && std::chrono::steady_clock::now() < deadline) {
            context.poll_once(std::chrono::milliseconds(20));
            got += driver.take_used().size();
        }
        REQUIRE(got == count);
    }

    struct Slot {
        memory::GuestAddress header;
        memory::GuestAddress data;
        memory::GuestAddress status;
    };

    VirtioDriver driver;
    FakeVirtioContext context;
    std::unique_ptr<virtio::VirtioBlock> device;
    std::vector<Slot> slots;
    uint64_t size = 0;
};

} // namespace minivmm::test
