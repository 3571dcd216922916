// Kernel and initrd files, opened with errors a user can act on.
#pragma once

#include "loader/image_source.hpp"
#include "memory/mmap_region.hpp"
#include "util/unique_fd.hpp"

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace minivmm::loader {

// A whole image in memory: a contiguous, read-only range of bytes (it converts to
// std::span<const std::byte>), and an ImageSource.
class ImageBuffer final : public ImageSource {
public:
    ImageBuffer() = default;
    ImageBuffer(memory::MmapRegion region, std::size_t size) : region_(std::move(region)), size_(size) {}
    ImageBuffer(ImageBuffer&&) noexcept = default;
    ImageBuffer& operator=(ImageBuffer&&) noexcept = default;

    [[nodiscard]] const std::byte* data() const { return region_.data(); }
    [[nodiscard]] uint64_t size() const override { return size_; }
    [[nodiscard]] bool empty() const { return size_ == 0; }
    [[nodiscard]] const std::byte* begin() const { return data(); }
    [[nodiscard]] const std::byte* end() const { return data() + size_; }
    [[nodiscard]] std::span<const std::byte> bytes() const { return {data(), size_}; }
    void read_at(uint64_t offset, std::span<std::byte> out) const override { ByteImage(bytes()).read_at(offset, out); }

private:
    memory::MmapRegion region_;
    std::size_t size_ = 0;
};

// A regular file read where it is needed: read_at() is pread() straight into the caller's
// buffer (for a kernel, guest RAM), so the image is never held whole in the VMM.
class ImageFile final : public ImageSource {
public:
    ImageFile(util::UniqueFd fd, uint64_t size, std::string name)
        : fd_(std::move(fd)), size_(size), name_(std::move(name))
    {
    }
    [[nodiscard]] uint64_t size() const override { return size_; }
    // ConfigError naming the file when the bytes are past its end or cannot be read (it
    // shrank after it was opened, or an I/O error).
    void read_at(uint64_t offset, std::span<std::byte> out) const override;

private:
    util::UniqueFd fd_;
    uint64_t size_ = 0;
    std::string name_; // "kernel 'PATH'"
};

// Opens an image file; `what` names it in errors ("kernel", "initrd"): "cannot open kernel
// 'PATH': No such file or directory", "kernel 'PATH' is empty". A regular file becomes an
// ImageFile (read where the loader puts it); anything else (a pipe) is read whole first.
[[nodiscard]] std::unique_ptr<ImageSource> open_image_file(const std::filesystem::path& path, std::string_view what);

// Reads a whole file into memory, with open_image_file's errors. Its pages are committed up
// front (in 2 MiB pages when it is that large), not zero-filled first and faulted in 4 KiB at
// a time: a 50 MiB vmlinux cost 13,000 page faults that way.
[[nodiscard]] ImageBuffer read_image_file(const std::filesystem::path& path, std::string_view what);

} // namespace minivmm::loader
