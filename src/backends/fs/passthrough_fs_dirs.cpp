// PassthroughFs: directories (OPENDIR, READDIR, READDIRPLUS, RELEASEDIR). A directory handle
// is an fd of its own; READDIR seeks it to the guest's offset (the previous entry's d_off, an
// opaque cookie the host file system chose) and reads on with getdents64 until the guest's
// buffer is full. READDIRPLUS also looks each entry up, saving the guest a LOOKUP per name.
#include "backends/fs/passthrough_fs.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>

namespace minivmm::backends {
namespace {

// struct linux_dirent64 without its name (getdents64(2)).
struct DirentHeader {
    uint64_t d_ino;
    int64_t d_off;
    uint16_t d_reclen;
    uint8_t d_type;
};
constexpr size_t kDirentNameOffset = 19;

constexpr size_t kDirBufferSize = 32 * 1024;

} // namespace

FsResult<uint64_t> PassthroughFs::opendir(uint64_t nodeid)
{
    auto dir = dir_inode(nodeid);
    if (!dir.ok()) {
        return Errno{dir.error()};
    }
    auto fd = reopen(*dir.value(), O_RDONLY | O_DIRECTORY);
    if (!fd.ok()) {
        return Errno{fd.error()};
    }
    return handles_.add(std::move(fd.value()), dir.value(), true);
}

FsStatus PassthroughFs::releasedir(uint64_t fh)
{
    return handles_.remove(fh, true) ? ok_status() : FsStatus(Errno{EBADF});
}

FsStatus PassthroughFs::readdir(uint64_t fh, uint64_t offset, bool plus, FsDirSink& sink)
{
    auto handle = handles_.get(fh, true);
    if (!handle) {
        return Errno{EBADF};
    }
    if (offset > static_cast<uint64_t>(INT64_MAX)) {
        return Errno{EINVAL};
    }
    std::lock_guard lock(handle->dir_mutex);
    const int fd = handle->fd.get();
    if (::lseek(fd, static_cast<off_t>(offset), SEEK_SET) < 0) {
        return last_errno();
    }
    thread_local std::array<char, kDirBufferSize> buffer;
    bool first = true;
    for (;;) {
        const long n = ::syscall(SYS_getdents64, fd, buffer.data(), buffer.size());
        if (n < 0) {
            return first ? FsStatus(last_errno()) : ok_status();
        }
        first = false;
        if (n == 0) {
            return ok_status(); // end of the directory
        }
        for (size_t pos = 0; pos + kDirentNameOffset < static_cast<size_t>(n);) {
            DirentHeader d{};
            std::memcpy(&d.d_ino, &buffer[pos], sizeof(d.d_ino));
            std::memcpy(&d.d_off, &buffer[pos + 8], sizeof(d.d_off));
            std::memcpy(&d.d_reclen, &buffer[pos + 16], sizeof(d.d_reclen));
            std::memcpy(&d.d_type, &buffer[pos + 18], sizeof(d.d_type));
            if (d.d_reclen <= kDirentNameOffset || pos + d.d_reclen > static_cast<size_t>(n)) {
                return ok_status(); // the kernel's records are well formed; stop if not
            }
            const char* chars = &buffer[pos + kDirentNameOffset];
            const std::string_view name(chars, ::strnlen(chars, d.d_reclen - kDirentNameOffset));
            pos += d.d_reclen;
            if (!sink.fits(name.size())) {
                return ok_status(); // the guest resumes at the previous entry's d_off
            }
            struct stat st {};
            st.st_dev = handle->inode->dev;
            st.st_ino = d.d_ino;
            const bool dot = name == "." || name == "..";
            if (!plus || dot) {
                sink.add(name, guest_ino(st), d.d_type, static_cast<uint64_t>(d.d_off), nullptr);
                continue;
            }
            auto child = FsName::from(name);
            auto entry = child.ok() ? lookup_in(*handle->inode, child.value()) : FsResult<FsEntry>(Errno{EINVAL});
            if (!entry.ok() && entry.error() == ENOENT) {
                continue; // removed since getdents64 saw it
            }
            const uint64_t ino = entry.ok() ? guest_ino(entry->st) : guest_ino(st);
            sink.add(name, ino, d.d_type, static_cast<uint64_t>(d.d_off), entry.ok() ? &entry.value() : nullptr);
        }
    }
}

} // namespace minivmm::backends
