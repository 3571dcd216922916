// A cpio archive in the "newc" format (magic 070701: the SVR4 portable format without
// checksums), built in memory: the format the Linux kernel unpacks as an initramfs
// (Documentation/driver-api/early-userspace/buffer-format.rst). Each entry is a 110-byte
// header of 13 eight-digit hexadecimal fields, the NUL-terminated name padded to a multiple
// of four bytes (with the header), then the data padded likewise; the archive ends with the
// entry "TRAILER!!!". Entries are owned by root, with mtime 0, one link each.
//
// Names are relative paths ("init", "lib/modules/fuse.ko"): no leading '/', no empty, "." or
// ".." component, no NUL; the kernel creates a file's parent directories only if the archive
// holds them first, so add directories before what is in them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace minivmm::initramfs {

class CpioWriter final {
public:
    static constexpr size_t kHeaderSize = 110;
    static constexpr size_t kMaxNameLength = 4095;   // PATH_MAX less the NUL
    static constexpr uint64_t kMaxFileSize = 0xffffffff; // c_filesize is 32 bits

    // Each throws ConfigError naming the entry on a bad name or a file too large.
    void add_directory(std::string_view path, uint32_t permissions = 0755);
    void add_file(std::string_view path, std::span<const uint8_t> data, uint32_t permissions = 0644);
    void add_symlink(std::string_view path, std::string_view target);
    void add_char_device(std::string_view path, uint32_t permissions, uint32_t major, uint32_t minor);

    // Appends the trailer and hands over the archive; the writer starts a new one afterwards.
    [[nodiscard]] std::vector<uint8_t> finish();

    // The bytes written so far (no trailer yet).
    [[nodiscard]] size_t size() const { return archive_.size(); }

private:
    struct Entry {
        uint32_t mode = 0;
        uint32_t nlink = 1;
        uint32_t rdev_major = 0;
        uint32_t rdev_minor = 0;
    };
    void add_entry(std::string_view path, const Entry& entry, std::span<const uint8_t> data);
    void append_header(std::string_view name, const Entry& entry, uint64_t data_size);
    void pad_to_four();

    std::vector<uint8_t> archive_;
    uint32_t next_inode_ = 1;
};

// Whether `path` is a name CpioWriter takes (see above).
[[nodiscard]] bool is_valid_cpio_name(std::string_view path);

} // namespace minivmm::initramfs
