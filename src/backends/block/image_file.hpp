// One file of a disk (the image itself, a backing file or a temporary overlay): opened
// close-on-exec, read-only or read-write, O_DIRECT when asked, with its size, and locked
// with an OFD lock (exclusive for a writer, shared for readers) so that no second VMM
// writes what this one uses. Knows nothing of image formats.
#pragma once

#include "util/unique_fd.hpp"

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

namespace minivmm::backends {

class ImageFile final {
public:
    struct Options {
        std::filesystem::path path;
        bool readonly = false;
        bool direct = false; // O_DIRECT (cache=none)
        bool lock = true;    // false (lock=off): no lock, for filesystems without them
    };

    // Throws ConfigError "LABEL <what is wrong>" for everything the user can fix: missing,
    // a directory, not a regular file or block device, unreadable, unwritable, empty, locked,
    // O_DIRECT refused, or a lock the filesystem refuses (lock=off goes without). `label` names the file, e.g. "disk 'a.img'".
    [[nodiscard]] static ImageFile open(const Options& options, const std::string& label);
    // A new, unnamed file in `dir` (O_TMPFILE, else a name unlinked at once: gone when closed,
    // whatever happens to the process), read-write, O_DIRECT when `direct` and the filesystem
    // takes it.
    [[nodiscard]] static ImageFile create_temporary(const std::filesystem::path& dir, bool direct,
                                                    const std::string& label);

    [[nodiscard]] int fd() const { return fd_.get(); }
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }
    [[nodiscard]] const std::string& label() const { return label_; }
    [[nodiscard]] bool readonly() const { return readonly_; }
    [[nodiscard]] bool direct() const { return direct_; }
    [[nodiscard]] bool locked() const { return locked_; }
    [[nodiscard]] uint64_t size_bytes() const { return size_bytes_; }
    // Identity of the file, for finding loops in backing chains.
    [[nodiscard]] dev_t device() const { return device_; }
    [[nodiscard]] ino_t inode() const { return inode_; }

    // Synchronous I/O for opening and creating images (not for guest requests): exactly
    // out.size() bytes at `offset`, zeros past the end of the file; and `data` at `offset`.
    // Works with O_DIRECT at any offset and length. Return 0 or an errno.
    [[nodiscard]] int read_at(uint64_t offset, std::span<std::byte> out) const;
    [[nodiscard]] int write_at(uint64_t offset, std::span<const std::byte> data);
    // Makes the file `bytes` long (ftruncate: a hole when it grows). Returns 0 or an errno.
    [[nodiscard]] int resize(uint64_t bytes);
    [[nodiscard]] int sync() const;

private:
    ImageFile(util::UniqueFd fd, std::filesystem::path path, std::string label, bool readonly, bool direct,
              uint64_t size_bytes, dev_t device, ino_t inode, bool locked);

    util::UniqueFd fd_;
    std::filesystem::path path_;
    std::string label_;
    bool readonly_ = false;
    bool direct_ = false;
    bool locked_ = false;
    uint64_t size_bytes_ = 0;
    dev_t device_ = 0;
    ino_t inode_ = 0;
};

} // namespace minivmm::backends
