#include "loader/image_file.hpp"

#include "arch/x86_64/layout.hpp"

#include <minivmm/error.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace minivmm::loader {
namespace {

// No image minivmm can load is larger than the RAM below the MMIO hole.
constexpr uint64_t kMaxImageSize = arch::kMmioHoleStart;
// The first buffer for a file whose size is not known beforehand (a pipe); it doubles as it
// fills.
constexpr uint64_t kFirstChunk = uint64_t{64} << 10;

// A buffer of `size` bytes, committed now; huge pages only where they would be filled, so a
// small kernel does not cost a 2 MiB page of peak RSS.
memory::MmapRegion image_region(uint64_t size)
{
    const auto huge = size >= memory::MmapRegion::kHugePageSize ? memory::HugePages::Transparent
                                                                 : memory::HugePages::Off;
    auto region = memory::MmapRegion::anonymous(size, huge, "an image file");
    region.populate();
    return region;
}

struct OpenedImage {
    util::UniqueFd fd;
    struct stat st {};
};

ConfigError image_error(std::string_view verb, std::string_view what, const std::filesystem::path& path, int err)
{
    return ConfigError(fmt::format("cannot {} {} '{}': {}", verb, what, path.string(), std::strerror(err)));
}

ConfigError too_large(std::string_view what, const std::filesystem::path& path)
{
    return ConfigError(fmt::format("{} '{}' is larger than {} MiB, more than a guest can hold below the MMIO hole",
                                   what, path.string(), kMaxImageSize >> 20));
}

OpenedImage open_image(const std::filesystem::path& path, std::string_view what)
{
    OpenedImage image{util::UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)), {}};
    if (!image.fd) {
        throw image_error("open", what, path, errno);
    }
    if (::fstat(image.fd.get(), &image.st) != 0) {
        throw image_error("read", what, path, errno);
    }
    if (S_ISDIR(image.st.st_mode)) {
        throw image_error("read", what, path, EISDIR);
    }
    return image;
}

// Reads `fd` to EOF into a buffer (for files whose size is not known: pipes).
ImageBuffer read_to_end(const util::UniqueFd& fd, uint64_t capacity, std::string_view what,
                        const std::filesystem::path& path)
{
    memory::MmapRegion buffer = image_region(capacity);
    uint64_t used = 0;
    for (;;) {
        if (used >= kMaxImageSize) {
            throw too_large(what, path);
        }
        if (used == buffer.size()) {
            memory::MmapRegion bigger = image_region(std::min(buffer.size() * 2, kMaxImageSize + 1));
            std::memcpy(bigger.data(), buffer.data(), used);
            buffer = std::move(bigger);
        }
        const ssize_t n = ::read(fd.get(), buffer.data() + used, buffer.size() - used);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw image_error("read", what, path, errno);
        }
        if (n == 0) {
            break;
        }
        used += static_cast<uint64_t>(n);
    }
    if (used == 0) {
        throw ConfigError(fmt::format("{} '{}' is empty", what, path.string()));
    }
    return ImageBuffer(std::move(buffer), used);
}

} // namespace

void ImageFile::read_at(uint64_t offset, std::span<std::byte> out) const
{
    if (offset > size_ || out.size() > size_ - offset) {
        throw ConfigError(fmt::format("{}: read of {} bytes at {:#x} is past its end ({} bytes)", name_, out.size(),
                                      offset, size_));
    }
    size_t done = 0;
    while (done < out.size()) {
        const ssize_t n = ::pread(fd_.get(), out.data() + done, out.size() - done,
                                  static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw ConfigError(fmt::format("cannot read {}: {}", name_, std::strerror(errno)));
        }
        if (n == 0) {
            throw ConfigError(fmt::format("{} is shorter than when it was opened ({} bytes): was it changed while "
                                          "minivmm read it?",
                                          name_, size_));
        }
        done += static_cast<size_t>(n);
    }
}

std::unique_ptr<ImageSource> open_image_file(const std::filesystem::path& path, std::string_view what)
{
    OpenedImage image = open_image(path, what);
    if (!S_ISREG(image.st.st_mode)) {
        return std::make_unique<ImageBuffer>(read_to_end(image.fd, kFirstChunk, what, path));
    }
    const auto size = static_cast<uint64_t>(image.st.st_size);
    if (size == 0) {
        throw ConfigError(fmt::format("{} '{}' is empty", what, path.string()));
    }
    if (size > kMaxImageSize) {
        throw too_large(what, path);
    }
    return std::make_unique<ImageFile>(std::move(image.fd), size, fmt::format("{} '{}'", what, path.string()));
}

ImageBuffer read_image_file(const std::filesystem::path& path, std::string_view what)
{
    OpenedImage image = open_image(path, what);
    // A regular file's buffer is its size plus one byte (the byte lets the next read see EOF
    // without growing it). Read to EOF rather than trusting st_size: files that change size
    // while they are read work too.
    uint64_t capacity = kFirstChunk;
    if (S_ISREG(image.st.st_mode)) {
        capacity = std::min<uint64_t>(static_cast<uint64_t>(image.st.st_size), kMaxImageSize) + 1;
    }
    return read_to_end(image.fd, capacity, what, path);
}

} // namespace minivmm::loader
