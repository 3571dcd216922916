// Opening a disk's backing chain, and the temporary overlay of snapshot=on.
#include "backends/block/disk_chain.hpp"

#include "backends/block/image_probe.hpp"
#include "backends/block/qcow2/qcow2_create.hpp"

#include <minivmm/error.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <sys/stat.h>

#include <array>
#include <cstdlib>
#include <cstring>

namespace minivmm::backends {

namespace {

qcow2::Metadata load(ImageFile& file, bool writable, uint64_t keep_l2_bytes, const std::string& label)
{
    try {
        return qcow2::load_metadata(file, writable, keep_l2_bytes);
    } catch (const qcow2::Qcow2FormatError& e) {
        throw ConfigError(fmt::format("{} {}", label, e.what()));
    }
}

enum class BackingFormat { Raw, Qcow2 };

BackingFormat backing_format(const std::optional<std::string>& named, const ImageFile& file, const std::string& label)
{
    if (named) {
        if (*named == "qcow2") {
            return BackingFormat::Qcow2;
        }
        if (*named == "raw") {
            return BackingFormat::Raw;
        }
        throw ConfigError(fmt::format("{} has format '{}' (minivmm reads raw and qcow2)", label, *named));
    }
    std::array<std::byte, kProbeBytes> first{};
    if (const int err = file.read_at(0, first); err != 0) {
        throw ConfigError(fmt::format("{} cannot be read: {}", label, std::strerror(err)));
    }
    switch (probe_format(first)) {
    case ProbedFormat::Qcow2: return BackingFormat::Qcow2;
    case ProbedFormat::Raw:
        spdlog::debug("{}: no backing format in the image; probed as raw", label);
        return BackingFormat::Raw;
    case ProbedFormat::Other: break;
    }
    throw ConfigError(fmt::format("{} is a {} image (minivmm reads raw and qcow2)", label, other_format_name(first)));
}

} // namespace

std::optional<std::filesystem::path> resolve_backing_name(const std::filesystem::path& image, const std::string& name)
{
    std::string plain = name;
    if (plain.starts_with("file:")) {
        plain.erase(0, 5);
    } else if (const auto p = plain.find_first_of(":/"); p != std::string::npos && plain[p] == ':') {
        return std::nullopt; // "protocol:..." as QEMU's path_has_protocol() sees it
    }
    if (plain.empty()) {
        return std::nullopt;
    }
    const std::filesystem::path path(plain);
    return path.is_absolute() ? path : image.parent_path() / path;
}

DiskChain DiskChain::open_qcow2(ImageFile top, const std::string& disk_label)
{
    DiskChain chain;
    const bool writable = !top.readonly();
    auto metadata = load(top, writable, kTopL2CacheBytes, disk_label);
    chain.images_.push_back(ChainImage{std::move(top), std::move(metadata), writable, true});
    chain.open_backing(disk_label);
    return chain;
}

DiskChain DiskChain::raw(ImageFile top)
{
    DiskChain chain;
    chain.images_.push_back(ChainImage{std::move(top), std::nullopt, false, true});
    return chain;
}

void DiskChain::open_backing(const std::string& disk_label)
{
    for (;;) {
        const ChainImage& last = images_.back();
        if (!last.qcow2 || !last.qcow2->header.backing_file) {
            return;
        }
        const std::string& name = *last.qcow2->header.backing_file;
        const std::string label = fmt::format("{}: backing file '{}'", disk_label, name);
        if (images_.size() >= kMaxImages) {
            throw ConfigError(fmt::format("{}: the backing chain is longer than {} images (at '{}')", disk_label,
                                          kMaxImages, name));
        }
        const auto path = resolve_backing_name(last.file.path(), name);
        if (!path) {
            throw ConfigError(fmt::format("{} is not a plain file name (QEMU protocols and json: names are not "
                                          "supported)",
                                          label));
        }
        // A loop back to an image already open would otherwise show up as a lock conflict.
        struct stat st {};
        if (::stat(path->c_str(), &st) == 0) {
            for (const auto& image : images_) {
                if (image.file.device() == st.st_dev && image.file.inode() == st.st_ino) {
                    throw ConfigError(fmt::format("{}: the backing chain loops: '{}' is backed by '{}', which is "
                                                  "already in the chain",
                                                  disk_label, last.file.path().string(), path->string()));
                }
            }
        }
        ImageFile file = ImageFile::open({*path, true, last.file.direct(), last.file.locked()}, label);
        switch (backing_format(last.qcow2->header.backing_format, file, label)) {
        case BackingFormat::Raw: images_.push_back(ChainImage{std::move(file), std::nullopt, false, true}); break;
        case BackingFormat::Qcow2: {
            auto metadata = load(file, false, kBackingL2CacheBytes, label);
            images_.push_back(ChainImage{std::move(file), std::move(metadata), false, true});
            break;
        }
        }
    }
}

void DiskChain::add_temporary_overlay(const std::string& disk_label)
{
    const ChainImage& base = top();
    const char* tmpdir = std::getenv("TMPDIR");
    const std::filesystem::path dir = tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/var/tmp";
    const std::string label = fmt::format("{} (snapshot=on overlay)", disk_label);
    ImageFile file = ImageFile::create_temporary(dir, base.file.direct(), label);
    std::error_code ec;
    std::string base_name = std::filesystem::absolute(base.file.path(), ec).string();
    if (ec || base_name.size() > qcow2::kMaxBackingNameBytes) {
        base_name.clear(); // only a name for whoever looks at the overlay; minivmm holds the file open
    }
    try {
        const auto image = qcow2::make_empty_image(base.virtual_size(), 16, base_name,
                                                   base_name.empty() ? "" : base.qcow2 ? "qcow2" : "raw");
        int err = file.write_at(0, image.bytes);
        if (err == 0) {
            err = file.resize(image.file_size);
        }
        if (err != 0) {
            throw ConfigError(fmt::format("{}: cannot write to {}: {}", label, dir.string(), std::strerror(err)));
        }
    } catch (const qcow2::Qcow2FormatError& e) {
        throw ConfigError(fmt::format("{}: {}", label, e.what()));
    }
    auto metadata = load(file, true, kTopL2CacheBytes, label);
    images_.insert(images_.begin(), ChainImage{std::move(file), std::move(metadata), true, false});
}

} // namespace minivmm::backends
