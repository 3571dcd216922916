// Opening and locking a raw disk image.
#include "backends/block/disk_image.hpp"

#include "util/sys_error.hpp"

#include <minivmm/error.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

namespace minivmm::backends {

namespace {

[[noreturn]] void fail(const std::filesystem::path& path, std::string_view what)
{
    throw ConfigError(fmt::format("disk '{}' {}", path.string(), what));
}

[[noreturn]] void fail_direct(const std::filesystem::path& path)
{
    throw ConfigError(fmt::format("disk '{}': cache=none needs O_DIRECT, which this filesystem does not support",
                                  path.string()));
}

[[noreturn]] void fail_open(const DiskOptions& config, bool direct, int err)
{
    const auto& path = config.path;
    switch (err) {
    case ENOENT:
    case ENOTDIR: fail(path, "does not exist");
    case EISDIR: fail(path, "is a directory");
    case EROFS: fail(path, "is on a read-only filesystem (readonly=on opens it read-only)");
    case ETXTBSY: fail(path, "is a program being executed");
    case EACCES:
    case EPERM:
        if (config.readonly || ::access(path.c_str(), R_OK) != 0) {
            fail(path, "is not readable");
        }
        fail(path, "is not writable (readonly=on opens it read-only)");
    case EINVAL:
        if (direct) {
            // Only O_DIRECT makes open() of an existing file fail with EINVAL.
            fail_direct(path);
        }
        break;
    default: break;
    }
    fail(path, fmt::format("cannot be opened: {} (errno {})", std::strerror(err), err));
}

// Some filesystems accept O_DIRECT at open() and refuse the I/O: try one aligned sector.
void check_direct_read(const std::filesystem::path& path, int fd)
{
    constexpr std::size_t kAlign = 4096;
    std::unique_ptr<void, decltype(&std::free)> buffer(std::aligned_alloc(kAlign, kAlign), &std::free);
    if (!buffer) {
        throw HostError("out of memory");
    }
    if (::pread(fd, buffer.get(), DiskImage::kDirectAlignment, 0) < 0 && errno == EINVAL) {
        fail_direct(path);
    }
}

void lock(const std::filesystem::path& path, int fd, bool readonly)
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
        fail(path, "is in use by another process (lock held)");
    }
    // Without the lock nothing stops a second VMM from writing the image too: refuse, unless
    // the user says so (a filesystem without locks, such as some NFS set-ups: ENOLCK).
    fail(path, fmt::format("cannot be locked: {}; lock=off uses it without a lock (then nothing stops another "
                           "process from writing it at the same time)",
                           util::errno_text(err)));
}

} // namespace

DiskImage::DiskImage(util::UniqueFd fd, std::filesystem::path path, bool readonly, bool direct, uint64_t size_bytes,
                     std::string serial)
    : fd_(std::move(fd)), path_(std::move(path)), readonly_(readonly), direct_(direct), size_bytes_(size_bytes),
      serial_(std::move(serial))
{
}

DiskImage DiskImage::open(const DiskOptions& config)
{
    const auto& path = config.path;
    if (path.empty()) {
        throw ConfigError("disk path is empty");
    }
    if (config.serial.size() > kMaxSerialBytes) {
        fail(path, fmt::format("has a serial of {} bytes; at most {} fit", config.serial.size(), kMaxSerialBytes));
    }
    // Refuse FIFOs and the like before open(), which could block on them.
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        fail_open(config, false, errno);
    }
    if (S_ISDIR(st.st_mode)) {
        fail(path, "is a directory");
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        fail(path, "is not a regular file or block device");
    }

    const bool direct = config.direct;
    const int flags = (config.readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (direct ? O_DIRECT : 0);
    util::UniqueFd fd(::open(path.c_str(), flags));
    if (!fd) {
        fail_open(config, direct, errno);
    }
    if (::fstat(fd.get(), &st) != 0) {
        fail(path, fmt::format("cannot be examined: {}", std::strerror(errno)));
    }
    uint64_t size = 0;
    if (S_ISBLK(st.st_mode)) {
        if (::ioctl(fd.get(), BLKGETSIZE64, &size) != 0) {
            fail(path, fmt::format("has no readable size: {}", std::strerror(errno)));
        }
    } else if (S_ISREG(st.st_mode)) {
        size = static_cast<uint64_t>(st.st_size);
    } else {
        fail(path, "is not a regular file or block device");
    }
    if (size == 0) {
        fail(path, "is empty");
    }
    if (size < kSectorSize) {
        fail(path, fmt::format("is {} bytes, smaller than one {}-byte sector", size, kSectorSize));
    }
    if (direct) {
        check_direct_read(path, fd.get());
    }
    if (config.lock) {
        lock(path, fd.get(), config.readonly);
    }
    if (size % kSectorSize != 0) {
        spdlog::debug("disk '{}': size {} is not a multiple of {}; the last {} bytes are not visible to the guest",
                      path.string(), size, kSectorSize, size % kSectorSize);
    }
    return DiskImage(std::move(fd), path, config.readonly, direct, size, config.serial);
}

} // namespace minivmm::backends
