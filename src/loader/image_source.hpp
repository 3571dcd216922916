// Where the bytes of a kernel or initrd come from. A loader parses the few header bytes it
// needs and then has the rest copied straight to its place in guest RAM: from a file that is
// one read() into guest memory (no buffer of the whole image, no second copy: what
// linux-loader and crosvm do), from bytes in memory (tests, fuzzing, a generated initramfs)
// one memcpy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace minivmm::loader {

class ImageSource {
public:
    virtual ~ImageSource() = default;
    [[nodiscard]] virtual uint64_t size() const = 0;
    // Copies the image's bytes [offset, offset + out.size()) into `out`. ConfigError when
    // they lie outside the image or cannot be read whole (a file that shrank meanwhile).
    virtual void read_at(uint64_t offset, std::span<std::byte> out) const = 0;

protected:
    ImageSource() = default;
    ImageSource(const ImageSource&) = default;
    ImageSource& operator=(const ImageSource&) = default;
};

// An image given as bytes in memory. The bytes must outlive it.
class ByteImage final : public ImageSource {
public:
    explicit ByteImage(std::span<const std::byte> bytes) : bytes_(bytes) {}
    [[nodiscard]] uint64_t size() const override { return bytes_.size(); }
    void read_at(uint64_t offset, std::span<std::byte> out) const override;

private:
    std::span<const std::byte> bytes_;
};

// What a BootSpec holds: bytes in memory or any ImageSource (neither owned). Implicit from
// both, so `BootSpec{kernel_bytes, initrd_file, cmdline, rsdp}` reads as before.
class ImageRef final {
public:
    ImageRef() = default; // no image
    ImageRef(std::span<const std::byte> bytes) : bytes_(bytes) {}         // NOLINT: implicit by design
    ImageRef(const ImageSource& source) : source_(&source) {}              // NOLINT: implicit by design
    ImageRef(const std::vector<std::byte>& bytes) : bytes_(bytes) {}      // NOLINT: implicit by design

    [[nodiscard]] uint64_t size() const;
    [[nodiscard]] bool empty() const { return size() == 0; }
    void read_at(uint64_t offset, std::span<std::byte> out) const;
    // The first min(size(), max) bytes, for headers.
    [[nodiscard]] std::vector<std::byte> read_prefix(uint64_t max) const;

private:
    std::span<const std::byte> bytes_;
    const ImageSource* source_ = nullptr;
};

} // namespace minivmm::loader
