#include "fuzz_block_device.hpp"

#include "devices/virtio/block/virtio_block.hpp"

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

std::unique_ptr<virtio::VirtioDevice> BlockFixture::make(memory::GuestMemory& memory)
{
    backends::DiskOptions config;
    config.path = image_path();
    config.serial = "fuzz";
    // Synchronous I/O: every completion is ready when the fuzzer runs the handlers, so runs
    // are deterministic. The io_uring backend shares the request parsing and completion code.
    return std::make_unique<virtio::VirtioBlock>(config, memory, backends::BlockBackendKind::Synchronous);
}

} // namespace minivmm::fuzz
