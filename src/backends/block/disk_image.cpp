// Opening a disk image: format, chain, snapshot overlay.
#include "backends/block/disk_image.hpp"

#include "backends/block/image_probe.hpp"

#include <minivmm/error.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>
#include <cstring>

namespace minivmm::backends {

namespace {

DiskFormat choose_format(const DiskOptions& options, const ImageFile& file, const std::string& label, bool& probed)
{
    probed = false;
    if (options.format != DiskFormat::Auto) {
        return options.format;
    }
    std::array<std::byte, kProbeBytes> first{};
    if (const int err = file.read_at(0, first); err != 0) {
        throw ConfigError(fmt::format("{} cannot be read: {}", label, std::strerror(err)));
    }
    switch (probe_format(first)) {
    case ProbedFormat::Qcow2: return DiskFormat::Qcow2;
    case ProbedFormat::Raw: probed = true; return DiskFormat::Raw;
    case ProbedFormat::Other: break;
    }
    throw ConfigError(fmt::format("{} is a {} image; minivmm reads raw and qcow2 (format=raw uses its bytes as they are)",
                                  label, other_format_name(first)));
}

} // namespace

DiskImage DiskImage::open(const DiskOptions& options)
{
    const auto& path = options.path;
    if (path.empty()) {
        throw ConfigError("disk path is empty");
    }
    const std::string label = fmt::format("disk '{}'", path.string());
    if (options.serial.size() > kMaxSerialBytes) {
        throw ConfigError(
            fmt::format("{} has a serial of {} bytes; at most {} fit", label, options.serial.size(), kMaxSerialBytes));
    }
    ImageFile file = ImageFile::open({path, options.readonly || options.snapshot, options.direct, options.lock}, label);

    DiskImage image;
    image.path_ = path;
    image.readonly_ = options.readonly;
    image.direct_ = options.direct;
    image.serial_ = options.serial;
    image.snapshot_ = options.snapshot;
    image.format_ = choose_format(options, file, label, image.probed_raw_);
    if (image.format_ == DiskFormat::Raw) {
        const uint64_t size = file.size_bytes();
        if (size < kSectorSize) {
            throw ConfigError(fmt::format("{} is {} bytes, smaller than one {}-byte sector", label, size, kSectorSize));
        }
        if (size % kSectorSize != 0) {
            spdlog::debug("{}: size {} is not a multiple of {}; the last {} bytes are not visible to the guest", label,
                          size, kSectorSize, size % kSectorSize);
        }
        image.chain_ = std::make_unique<DiskChain>(DiskChain::raw(std::move(file)));
    } else {
        image.chain_ = std::make_unique<DiskChain>(DiskChain::open_qcow2(std::move(file), label));
        if (image.chain_->top().virtual_size() < kSectorSize) {
            throw ConfigError(fmt::format("{} has a virtual size of {} bytes, smaller than one {}-byte sector", label,
                                          image.chain_->top().virtual_size(), kSectorSize));
        }
    }
    if (options.snapshot) {
        image.chain_->add_temporary_overlay(label);
    }
    image.size_bytes_ = image.chain_->top().virtual_size();
    return image;
}

} // namespace minivmm::backends
