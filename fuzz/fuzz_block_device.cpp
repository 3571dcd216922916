#include "fuzz_block_device.hpp"

#include "devices/virtio/block/virtio_block.hpp"

#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

namespace minivmm::fuzz {

namespace {

// One sparse 1 MiB image per process, reused (and overwritten) by every input.
const std::filesystem::path& image_path()
{
    static const std::filesystem::path path = [] {
        std::string name = (std::filesystem::temp_directory_path() / "minivmm-fuzz-XXXXXX").string();
        const int fd = ::mkstemp(name.data());
        if (fd < 0 || ::ftruncate(fd, 1 << 20) != 0) {
            std::abort();
        }
        ::close(fd);
        std::atexit([] { std::filesystem::remove(image_path()); });
        return std::filesystem::path(name);
    }();
    return path;
}

} // namespace

std::unique_ptr<virtio::VirtioDevice> BlockFixture::make(memory::GuestMemory& memory, bool io_uring)
{
    backends::DiskOptions config;
    config.path = image_path();
    config.serial = "fuzz";
    // Synchronous I/O: every completion is ready when the fuzzer runs the handlers. io_uring:
    // settle() waits for the completions before the handlers run, so runs repeat too.
    auto device = std::make_unique<virtio::VirtioBlock>(
        config, memory, io_uring ? backends::BlockBackendKind::Auto : backends::BlockBackendKind::Synchronous);
    device_ = device.get();
    return device;
}

void BlockFixture::settle(test::FakePoller& poller) const
{
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
    while (device_ != nullptr && device_->backend().in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
        if (const int fd = device_->backend().completion_fd(); fd >= 0) {
            pollfd p{fd, POLLIN, 0};
            (void)::poll(&p, 1, 10);
        }
        poller.run_ready();
    }
}

bool BlockFixture::within_bound() const
{
    return device_ == nullptr || device_->bytes_held() <= virtio::VirtioBlock::kMaxBytesHeld;
}

} // namespace minivmm::fuzz
