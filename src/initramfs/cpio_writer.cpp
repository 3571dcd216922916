#include "initramfs/cpio_writer.hpp"

#include <minivmm/error.hpp>

#include <fmt/format.h>

#include <sys/stat.h>

#include <algorithm>
#include <iterator>
#include <utility>

namespace minivmm::initramfs {
namespace {

constexpr std::string_view kMagic = "070701";
constexpr std::string_view kTrailer = "TRAILER!!!";

void append_text(std::vector<uint8_t>& out, std::string_view text)
{
    std::transform(text.begin(), text.end(), std::back_inserter(out), [](char c) { return static_cast<uint8_t>(c); });
}

} // namespace

bool is_valid_cpio_name(std::string_view path)
{
    if (path.empty() || path.size() > CpioWriter::kMaxNameLength || path.front() == '/' ||
        path.find('\0') != std::string_view::npos || path == kTrailer) {
        return false;
    }
    size_t start = 0;
    while (start <= path.size()) {
        const size_t end = std::min(path.find('/', start), path.size());
        const auto component = path.substr(start, end - start);
        if (component.empty() || component == "." || component == "..") {
            return false;
        }
        start = end + 1;
    }
    return true;
}

void CpioWriter::add_directory(std::string_view path, uint32_t permissions)
{
    add_entry(path, Entry{S_IFDIR | (permissions & 07777), 2}, {});
}

void CpioWriter::add_file(std::string_view path, std::span<const uint8_t> data, uint32_t permissions)
{
    add_entry(path, Entry{S_IFREG | (permissions & 07777)}, data);
}

void CpioWriter::add_symlink(std::string_view path, std::string_view target)
{
    if (target.empty() || target.find('\0') != std::string_view::npos) {
        throw ConfigError(fmt::format("initramfs: symbolic link '{}' has an empty or NUL-holding target", path));
    }
    const std::vector<uint8_t> bytes(target.begin(), target.end());
    add_entry(path, Entry{S_IFLNK | 0777}, bytes);
}

void CpioWriter::add_char_device(std::string_view path, uint32_t permissions, uint32_t major, uint32_t minor)
{
    add_entry(path, Entry{S_IFCHR | (permissions & 07777), 1, major, minor}, {});
}

std::vector<uint8_t> CpioWriter::finish()
{
    append_header(kTrailer, Entry{}, 0);
    next_inode_ = 1;
    return std::exchange(archive_, {});
}

void CpioWriter::add_entry(std::string_view path, const Entry& entry, std::span<const uint8_t> data)
{
    if (!is_valid_cpio_name(path)) {
        throw ConfigError(fmt::format("initramfs: '{}' is not a valid archive name", path));
    }
    if (data.size() > kMaxFileSize) {
        throw ConfigError(fmt::format("initramfs: '{}' is {} bytes, more than a cpio entry holds", path, data.size()));
    }
    append_header(path, entry, data.size());
    archive_.insert(archive_.end(), data.begin(), data.end());
    pad_to_four();
}

void CpioWriter::append_header(std::string_view name, const Entry& entry, uint64_t data_size)
{
    const uint32_t inode = name == kTrailer ? 0 : next_inode_++;
    // c_ino c_mode c_uid c_gid c_nlink c_mtime c_filesize c_devmajor c_devminor c_rdevmajor
    // c_rdevminor c_namesize c_check
    const auto header = fmt::format("{}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}",
                                    kMagic, inode, entry.mode, 0, 0, name == kTrailer ? 1 : entry.nlink, 0,
                                    data_size, 0, 0, entry.rdev_major, entry.rdev_minor, name.size() + 1, 0);
    append_text(archive_, header);
    append_text(archive_, name);
    archive_.push_back(uint8_t{0});
    pad_to_four();
}

void CpioWriter::pad_to_four()
{
    archive_.resize((archive_.size() + 3) & ~size_t{3}, uint8_t{0});
}

} // namespace minivmm::initramfs
