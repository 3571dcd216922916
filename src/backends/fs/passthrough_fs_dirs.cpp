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
#include <string>

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
    FsDirStream& dir = handle->dir;
    if (!dir.positioned || offset != dir.offset) {
        // A rewind or a seek: from the host's own position for that offset.
        if (::lseek(fd, static_cast<off_t>(offset), SEEK_SET) < 0) {
            return last_errno();
        }
        dir.pending.clear();
        dir.pending_at = 0;
        dir.offset = offset;
        dir.positioned = true;
    }
    for (;;) {
        if (dir.pending_at >= dir.pending.size()) {
            dir.pending.resize(FsDirStream::kChunk);
            const long n = ::syscall(SYS_getdents64, fd, dir.pending.data(), dir.pending.size());
            if (n <= 0) {
                dir.pending.clear();
                dir.pending_at = 0;
                // An error after some entries: the guest gets those, and the error next time.
                return n < 0 && !sink.any() ? FsStatus(last_errno()) : ok_status();
            }
            dir.pending.resize(static_cast<size_t>(n));
            dir.pending_at = 0;
        }
        const size_t pos = dir.pending_at;
        const size_t end = dir.pending.size();
        DirentHeader d{};
        if (pos + kDirentNameOffset >= end) {
            dir.pending.clear(); // the kernel's records are well formed; drop them if not
            continue;
        }
        std::memcpy(&d.d_ino, &dir.pending[pos], sizeof(d.d_ino));
        std::memcpy(&d.d_off, &dir.pending[pos + 8], sizeof(d.d_off));
        std::memcpy(&d.d_reclen, &dir.pending[pos + 16], sizeof(d.d_reclen));
        std::memcpy(&d.d_type, &dir.pending[pos + 18], sizeof(d.d_type));
        if (d.d_reclen <= kDirentNameOffset || pos + d.d_reclen > end) {
            dir.pending.clear();
            continue;
        }
        const char* chars = &dir.pending[pos + kDirentNameOffset];
        const std::string name(chars, ::strnlen(chars, d.d_reclen - kDirentNameOffset));
        if (!sink.fits(name.size())) {
            return ok_status(); // kept pending: the next READDIR starts with it
        }
        dir.pending_at += d.d_reclen;
        dir.offset = static_cast<uint64_t>(d.d_off);
        struct stat st {};
        st.st_dev = handle->inode->dev;
        st.st_ino = d.d_ino;
        const bool dot = name == "." || name == "..";
        if (!plus || dot) {
            sink.add(name, guest_ino(st), d.d_type, dir.offset, nullptr);
            continue;
        }
        auto child = FsName::from(name);
        auto entry = child.ok() ? lookup_in(*handle->inode, child.value()) : FsResult<FsEntry>(Errno{EINVAL});
        if (!entry.ok() && entry.error() == ENOENT) {
            continue; // removed since getdents64 saw it
        }
        const uint64_t ino = entry.ok() ? guest_ino(entry->st) : guest_ino(st);
        sink.add(name, ino, d.d_type, dir.offset, entry.ok() ? &entry.value() : nullptr);
    }
}

} // namespace minivmm::backends
