// Opening, locking and sizing one file of a disk.
#include "backends/block/image_file.hpp"

#include "backends/block/aligned_buffer.hpp"
#include "util/sys_error.hpp"

#include <minivmm/error.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

namespace minivmm::backends {

namespace {

constexpr uint64_t kDirectAlignment = 512;

[[noreturn]] void fail(const std::string& label, std::string_view what)
{
    throw ConfigError(fmt::format("{} {}", label, what));
}

[[noreturn]] void fail_direct(const std::string& label)
{
    throw ConfigError(fmt::format("{}: cache=none needs O_DIRECT, which this filesystem does not support", label));
}

[[noreturn]] void fail_open(const ImageFile::Options& options, const std::string& label, bool direct, int err)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR: fail(label, "does not exist");
    case EISDIR: fail(label, "is a directory");
    case EROFS: fail(label, "is on a read-only filesystem (readonly=on opens it read-only)");
    case ETXTBSY: fail(label, "is a program being executed");
    case EACCES:
    case EPERM:
        if (options.readonly || ::access(options.path.c_str(), R_OK) != 0) {
            fail(label, "is not readable");
        }
        fail(label, "is not writable (readonly=on opens it read-only)");
    case EINVAL:
        if (direct) {
            // Only O_DIRECT makes open() of an existing file fail with EINVAL.
            fail_direct(label);
        }
        break;
    default: break;
    }
    fail(label, fmt::format("cannot be opened: {} (errno {})", std::strerror(err), err));
}

// Some filesystems accept O_DIRECT at open() and refuse the I/O: try one aligned sector.
void check_direct_read(const std::string& label, int fd)
{
    AlignedBuffer buffer(AlignedBuffer::kAlignment);
    if (::pread(fd, buffer.data(), kDirectAlignment, 0) < 0 && errno == EINVAL) {
        fail_direct(label);
    }
}

void lock(const std::string& label, int fd, bool readonly)
{
    // An OFD lock belongs to this open file description: it conflicts with a second open
    // even inside this process, and goes away with the last fd (no lost-on-close trap).
    struct flock lk {};
    lk.l_type = readonly ? F_RDLCK : F_WRLCK;
    lk.l_whence = SEEK_SET;
    lk.l_start = 0;
    lk.l_len = 0; // the whole file, however large it grows
    if (::fcntl(fd, F_OFD_SETLK, &lk) == 0) {
        return;
    }
    const int err = errno;
    if (err == EAGAIN || err == EACCES) {
        fail(label, "is in use by another process (lock held)");
    }
    // Without the lock nothing stops a second VMM from writing the image too: refuse, unless
    // the user says so (a filesystem without locks, such as some NFS set-ups: ENOLCK).
    fail(label, fmt::format("cannot be locked: {}; lock=off uses it without a lock (then nothing stops another "
                            "process from writing it at the same time)",
                            util::errno_text(err)));
}

// Full-length pread/pwrite at an aligned offset into an aligned buffer; reads stop at the
// end of the file (the rest of `buf` is left as it was).
int transfer(int fd, bool write, uint64_t offset, std::byte* buf, std::size_t len)
{
    std::size_t done = 0;
    while (done < len) {
        const auto pos = static_cast<off_t>(offset + done);
        const ssize_t n = write ? ::pwrite(fd, buf + done, len - done, pos) : ::pread(fd, buf + done, len - done, pos);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno;
        }
        if (n == 0) {
            return write ? EIO : 0;
        }
        done += static_cast<std::size_t>(n);
    }
    return 0;
}

} // namespace

ImageFile::ImageFile(util::UniqueFd fd, std::filesystem::path path, std::string label, bool readonly, bool direct,
                     uint64_t size_bytes, dev_t device, ino_t inode, bool locked)
    : fd_(std::move(fd)), path_(std::move(path)), label_(std::move(label)), readonly_(readonly), direct_(direct),
      locked_(locked), size_bytes_(size_bytes), device_(device), inode_(inode)
{
}

ImageFile ImageFile::open(const Options& options, const std::string& label)
{
    const auto& path = options.path;
    // Refuse FIFOs and the like before open(), which could block on them.
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        fail_open(options, label, false, errno);
    }
    if (S_ISDIR(st.st_mode)) {
        fail(label, "is a directory");
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        fail(label, "is not a regular file or block device");
    }
    const int flags = (options.readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (options.direct ? O_DIRECT : 0);
    util::UniqueFd fd(::open(path.c_str(), flags));
    if (!fd) {
        fail_open(options, label, options.direct, errno);
    }
    if (::fstat(fd.get(), &st) != 0) {
        fail(label, fmt::format("cannot be examined: {}", std::strerror(errno)));
    }
    uint64_t size = 0;
    if (S_ISBLK(st.st_mode)) {
        if (::ioctl(fd.get(), BLKGETSIZE64, &size) != 0) {
            fail(label, fmt::format("has no readable size: {}", std::strerror(errno)));
        }
    } else if (S_ISREG(st.st_mode)) {
        size = static_cast<uint64_t>(st.st_size);
    } else {
        fail(label, "is not a regular file or block device");
    }
    if (size == 0) {
        fail(label, "is empty");
    }
    if (options.direct) {
        check_direct_read(label, fd.get());
    }
    if (options.lock) {
        lock(label, fd.get(), options.readonly);
    }
    return ImageFile(std::move(fd), path, label, options.readonly, options.direct, size, st.st_dev, st.st_ino,
                     options.lock);
}

namespace {

// An unnamed file in `dir`: O_TMPFILE, or where the filesystem has none (9p, some FUSE and
// NFS mounts) a named one unlinked at once. -1 with errno set on failure.
int open_unnamed(const std::filesystem::path& dir, int flags)
{
    const int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC | flags, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR)) {
        return fd;
    }
    std::string name = (dir / "minivmm-overlay-XXXXXX").string();
    util::UniqueFd named(::mkostemp(name.data(), O_CLOEXEC));
    if (!named) {
        return -1;
    }
    const int reopened = flags == 0 ? named.release() : ::open(name.c_str(), O_RDWR | O_CLOEXEC | flags);
    const int err = errno;
    ::unlink(name.c_str());
    errno = err;
    return reopened;
}

} // namespace

ImageFile ImageFile::create_temporary(const std::filesystem::path& dir, bool direct, const std::string& label)
{
    util::UniqueFd fd(open_unnamed(dir, direct ? O_DIRECT : 0));
    if (!fd && direct && errno == EINVAL) {
        // The overlay dies with the process: the host page cache cannot make it less durable.
        spdlog::debug("{}: {} does not take O_DIRECT; the temporary overlay goes through the page cache", label,
                      dir.string());
        direct = false;
        fd.reset(open_unnamed(dir, 0));
    }
    if (!fd) {
        const int err = errno;
        throw ConfigError(fmt::format("{}: cannot create a temporary overlay in {}: {}", label, dir.string(),
                                      std::strerror(err)));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        throw ConfigError(fmt::format("{}: temporary overlay: {}", label, std::strerror(errno)));
    }
    lock(label, fd.get(), false);
    return ImageFile(std::move(fd), dir / "(temporary overlay)", label, false, direct, 0, st.st_dev, st.st_ino, false);
}

int ImageFile::read_at(uint64_t offset, std::span<std::byte> out) const
{
    std::fill(out.begin(), out.end(), std::byte{0});
    if (out.empty()) {
        return 0;
    }
    if (!direct_) {
        return transfer(fd_.get(), false, offset, out.data(), out.size()); // stops at the end of the file
    }
    const uint64_t start = offset / kDirectAlignment * kDirectAlignment;
    const uint64_t end = (offset + out.size() + kDirectAlignment - 1) / kDirectAlignment * kDirectAlignment;
    AlignedBuffer buffer(static_cast<std::size_t>(end - start));
    if (const int err = transfer(fd_.get(), false, start, buffer.data(), buffer.size()); err != 0) {
        return err;
    }
    std::memcpy(out.data(), buffer.data() + (offset - start), out.size());
    return 0;
}

int ImageFile::write_at(uint64_t offset, std::span<const std::byte> data)
{
    if (data.empty()) {
        return 0;
    }
    const uint64_t start = offset / kDirectAlignment * kDirectAlignment;
    const uint64_t end = (offset + data.size() + kDirectAlignment - 1) / kDirectAlignment * kDirectAlignment;
    if (!direct_ && start == offset && end == offset + data.size()) {
        // Without O_DIRECT whole sectors need no aligned copy (transfer() only reads `data`
        // when writing).
        if (const int err = transfer(fd_.get(), true, offset, const_cast<std::byte*>(data.data()), data.size());
            err != 0) {
            return err;
        }
        size_bytes_ = std::max(size_bytes_, end);
        return 0;
    }
    AlignedBuffer buffer(static_cast<std::size_t>(end - start));
    if (start != offset || end != offset + data.size()) {
        if (const int err = transfer(fd_.get(), false, start, buffer.data(), buffer.size()); err != 0) {
            return err;
        }
    }
    std::memcpy(buffer.data() + (offset - start), data.data(), data.size());
    if (const int err = transfer(fd_.get(), true, start, buffer.data(), buffer.size()); err != 0) {
        return err;
    }
    size_bytes_ = std::max(size_bytes_, end);
    return 0;
}

int ImageFile::resize(uint64_t bytes)
{
    if (::ftruncate(fd_.get(), static_cast<off_t>(bytes)) != 0) {
        return errno;
    }
    size_bytes_ = bytes;
    return 0;
}

int ImageFile::sync() const { return ::fdatasync(fd_.get()) == 0 ? 0 : errno; }

} // namespace minivmm::backends
