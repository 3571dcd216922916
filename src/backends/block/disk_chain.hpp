// The images behind one disk, top first: the disk's own file, then its backing files (qcow2
// or raw), each opened read-only with a shared lock. For snapshot=on, a temporary qcow2
// overlay goes on top and takes every write; the image itself is then opened read-only.
//
// Backing files are found as QEMU finds them: the name in the header, relative to the
// directory of the image that names it; the format from the backing-format extension, or
// probed when there is none. Refused: protocol and json: names, formats other than raw and
// qcow2, chains of more than kMaxImages images, and loops.
#pragma once

#include "backends/block/image_file.hpp"
#include "backends/block/qcow2/qcow2_metadata.hpp"

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace minivmm::backends {

struct ChainImage {
    ImageFile file;
    std::optional<qcow2::Metadata> qcow2; // nullopt: a raw file
    bool writable = false;
    bool durable = true; // false for the temporary overlay: syncing it is pointless
    [[nodiscard]] uint64_t virtual_size() const { return qcow2 ? qcow2->header.size : file.size_bytes(); }
};

class DiskChain final {
public:
    static constexpr std::size_t kMaxImages = 16;
    // L2 tables kept from opening (the caches start with them): the top, and each backing file.
    static constexpr uint64_t kTopL2CacheBytes = 32ULL << 20;
    static constexpr uint64_t kBackingL2CacheBytes = 4ULL << 20;

    // Loads `top` as qcow2 (writable unless it was opened read-only) and opens its backing
    // chain. `disk_label` ("disk 'a.qcow2'") starts every error message.
    [[nodiscard]] static DiskChain open_qcow2(ImageFile top, const std::string& disk_label);
    // `top` as a raw file, alone (a raw disk under snapshot=on).
    [[nodiscard]] static DiskChain raw(ImageFile top);
    // Puts a new temporary qcow2 overlay on top (in $TMPDIR, else /var/tmp), whose backing
    // file is the current top.
    void add_temporary_overlay(const std::string& disk_label);

    [[nodiscard]] std::vector<ChainImage>& images() { return images_; }
    [[nodiscard]] const std::vector<ChainImage>& images() const { return images_; }
    [[nodiscard]] ChainImage& top() { return images_.front(); }
    [[nodiscard]] const ChainImage& top() const { return images_.front(); }

private:
    void open_backing(const std::string& disk_label);
    std::vector<ChainImage> images_;
};

// How a backing file name resolves: relative names against the directory of `image`; a
// "file:" prefix dropped. nullopt for names QEMU would take as a protocol ("nbd:...",
// "json:{...}"), which minivmm does not open.
[[nodiscard]] std::optional<std::filesystem::path> resolve_backing_name(const std::filesystem::path& image,
                                                                        const std::string& name);

} // namespace minivmm::backends
