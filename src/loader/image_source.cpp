#include "loader/image_source.hpp"

#include <minivmm/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace minivmm::loader {

void ByteImage::read_at(uint64_t offset, std::span<std::byte> out) const
{
    if (offset > bytes_.size() || out.size() > bytes_.size() - offset) {
        throw ConfigError(fmt::format("image read of {} bytes at {:#x} is past its end ({} bytes)", out.size(),
                                      offset, bytes_.size()));
    }
    if (!out.empty()) {
        std::memcpy(out.data(), bytes_.data() + offset, out.size());
    }
}

uint64_t ImageRef::size() const { return source_ != nullptr ? source_->size() : bytes_.size(); }

void ImageRef::read_at(uint64_t offset, std::span<std::byte> out) const
{
    if (source_ != nullptr) {
        source_->read_at(offset, out);
        return;
    }
    ByteImage(bytes_).read_at(offset, out);
}

std::vector<std::byte> ImageRef::read_prefix(uint64_t max) const
{
    std::vector<std::byte> bytes(std::min(size(), max));
    read_at(0, bytes);
    return bytes;
}

} // namespace minivmm::loader
