#include "fuzz_block_device.hpp"

#include "devices/virtio/block/virtio_block.hpp"

#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

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
    // Only while the device watches its completions (a broken or reset device does not) and
    // some are outstanding; each wait is short: I/O on this small cached file completes at once.
    for (int round = 0; round < 4 && device_ != nullptr && device_->backend().in_flight() > 0; ++round) {
        const int fd = device_->backend().completion_fd();
        if (fd < 0 || !poller.events(fd)) {
            return;
        }
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 2) <= 0) {
            return;
        }
        poller.run_ready();
    }
}

bool BlockFixture::within_bound() const
{
    return device_ == nullptr || device_->bytes_held() <= virtio::VirtioBlock::kMaxBytesHeld;
}

} // namespace minivmm::fuzz
