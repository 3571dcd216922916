// FuseServer: taking a request apart (header, lengths, extensions), dispatch by opcode, INIT
// and DESTROY. The handlers are in fuse_server_entries.cpp, fuse_server_files.cpp and
// fuse_server_xattr_locks.cpp.
#include "backends/fs/fuse_server.hpp"

#include "backends/fs/fuse_server_context.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace minivmm::backends {
namespace {

// Arguments copied per request: every opcode's but WRITE's data, whose bytes go from guest
// memory to the file directly. The largest is SETXATTR's: header, name, a 64 KiB value.
constexpr size_t kMaxArgs = kFuseXattrSizeMax + 8192;

uint64_t offered_flags(FsCachePolicy cache)
{
    uint64_t flags = FUSE_ASYNC_READ | FUSE_POSIX_LOCKS | FUSE_ATOMIC_O_TRUNC | FUSE_BIG_WRITES | FUSE_FLOCK_LOCKS |
                     FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO | FUSE_ASYNC_DIO | FUSE_PARALLEL_DIROPS |
                     FUSE_MAX_PAGES | FUSE_SETXATTR_EXT | FUSE_INIT_EXT;
    if (cache == FsCachePolicy::Auto) {
        flags |= FUSE_AUTO_INVAL_DATA; // the guest drops cached pages when mtime or size change
    } else if (cache == FsCachePolicy::Always) {
        flags |= FUSE_CACHE_SYMLINKS;
    }
    return flags;
}

} // namespace

FuseServer::FuseServer(FsOptions options, std::string name, Deferred deferred)
    : name_(std::move(name)), fs_(std::move(options)), waiters_(std::move(deferred))
{
}

FuseServer::~FuseServer() = default;

void FuseServer::reset()
{
    waiters_.reset();
    fs_.forget_all();
    initialized_ = false;
}

uint32_t FuseServer::malformed(Context& c, const char* why, int error)
{
    std::lock_guard lock(log_mutex_);
    uint64_t suppressed = 0;
    if (log_limit_.allow(suppressed)) {
        spdlog::warn("{}: malformed request (opcode {}): {}; answered {}{}", name_, c.header.opcode, why,
                     std::strerror(error),
                     suppressed > 0 ? fmt::format(" ({} similar messages suppressed)", suppressed) : "");
    }
    return c.reply.error(error);
}

std::optional<uint32_t> FuseServer::handle(const FuseRequest& request, uint64_t token)
{
    memory::IovecReader reader(request.in);
    const auto header = reader.read_obj<fuse_in_header>();
    if (!header) {
        std::lock_guard lock(log_mutex_);
        uint64_t suppressed = 0;
        if (log_limit_.allow(suppressed)) {
            spdlog::warn("{}: malformed request: {} bytes, shorter than a FUSE header; dropped", name_,
                         reader.remaining());
        }
        return 0;
    }
    thread_local std::vector<std::byte> args;
    args.clear();
    Context c{*header, FuseBody({}), reader, FuseReply(request.out, header->unique), request, token};
    const size_t extensions = size_t{header->total_extlen} * 8;
    if (header->len < sizeof(fuse_in_header) + extensions) {
        return malformed(c, "length shorter than its header", EINVAL);
    }
    if (header->len - sizeof(fuse_in_header) > reader.remaining()) {
        return malformed(c, "length past the end of the buffers", EINVAL);
    }
    // Extensions (security contexts, supplementary groups) come only when negotiated, which
    // this server does not do: skipped.
    const size_t args_len = header->len - sizeof(fuse_in_header) - extensions;
    const size_t copied = header->opcode == FUSE_WRITE ? std::min(args_len, sizeof(fuse_write_in)) : args_len;
    if (copied > kMaxArgs) {
        return malformed(c, "arguments too long", EINVAL);
    }
    args.resize(copied);
    static_cast<void>(reader.read(args));
    c.body = FuseBody(args);
    if (header->opcode == FUSE_WRITE) {
        reader = memory::IovecReader(request.in, header->len - extensions);
        static_cast<void>(reader.skip(sizeof(fuse_in_header) + copied));
    }
    if (header->opcode != FUSE_INIT && !initialized_.load()) {
        return c.reply.error(EIO);
    }
    return dispatch(c);
}

std::optional<uint32_t> FuseServer::dispatch(Context& c)
{
    switch (c.header.opcode) {
    case FUSE_INIT:
        return init(c);
    case FUSE_DESTROY:
        return destroy(c);
    case FUSE_LOOKUP:
        return lookup(c);
    case FUSE_FORGET:
        return forget(c);
    case FUSE_BATCH_FORGET:
        return batch_forget(c);
    case FUSE_GETATTR:
        return getattr(c);
    case FUSE_SETATTR:
        return setattr(c);
    case FUSE_READLINK:
        return readlink(c);
    case FUSE_SYMLINK:
        return symlink(c);
    case FUSE_MKNOD:
        return mknod(c);
    case FUSE_MKDIR:
        return mkdir(c);
    case FUSE_UNLINK:
        return unlink(c, false);
    case FUSE_RMDIR:
        return unlink(c, true);
    case FUSE_RENAME:
        return rename(c, false);
    case FUSE_RENAME2:
        return rename(c, true);
    case FUSE_LINK:
        return link(c);
    case FUSE_OPEN:
        return open(c, false);
    case FUSE_OPENDIR:
        return open(c, true);
    case FUSE_CREATE:
        return create(c);
    case FUSE_READ:
        return read(c);
    case FUSE_WRITE:
        return write(c);
    case FUSE_FLUSH:
        return flush(c);
    case FUSE_RELEASE:
        return release(c, false);
    case FUSE_RELEASEDIR:
        return release(c, true);
    case FUSE_FSYNC:
        return fsync(c, false);
    case FUSE_FSYNCDIR:
        return fsync(c, true);
    case FUSE_READDIR:
        return readdir(c, false);
    case FUSE_READDIRPLUS:
        return readdir(c, true);
    case FUSE_STATFS:
        return statfs(c);
    case FUSE_ACCESS:
        return access(c);
    case FUSE_GETXATTR:
        return getxattr(c, false);
    case FUSE_LISTXATTR:
        return getxattr(c, true);
    case FUSE_SETXATTR:
        return setxattr(c);
    case FUSE_REMOVEXATTR:
        return removexattr(c);
    case FUSE_LSEEK:
        return lseek(c);
    case FUSE_FALLOCATE:
        return fallocate(c);
    case FUSE_COPY_FILE_RANGE:
        return copy_file_range(c);
    case FUSE_GETLK:
        return getlk(c);
    case FUSE_SETLK:
        return setlk(c, false);
    case FUSE_SETLKW:
        return setlk(c, true);
    case FUSE_INTERRUPT:
        return interrupt(c);
    case FUSE_SYNCFS:
        return syncfs(c);
    default:
        spdlog::debug("{}: opcode {} not served (ENOSYS)", name_, c.header.opcode);
        return c.reply.error(ENOSYS);
    }
}

uint32_t FuseServer::init(Context& c)
{
    // fuse_init_in grew at 7.36 (flags2): older drivers send its first 16 bytes.
    const auto in = c.body.take_prefix<fuse_init_in>(std::min(c.body.remaining(), sizeof(fuse_init_in)));
    if (!in || (in->major == 0 && in->minor == 0)) {
        return malformed(c, "INIT without a version", EINVAL);
    }
    fuse_init_out out{};
    out.major = kFuseMajor;
    out.minor = kFuseMinor;
    if (in->major > kFuseMajor) {
        // The driver speaks a newer major version: say ours, and it asks again (fuse.h).
        return c.reply.object_prefix(out, FUSE_COMPAT_INIT_OUT_SIZE);
    }
    if (in->major < kFuseMajor || in->minor < kFuseMinMinor) {
        spdlog::warn("{}: the guest speaks FUSE {}.{}; at least {}.{} is needed", name_, in->major, in->minor,
                     kFuseMajor, kFuseMinMinor);
        return c.reply.error(EPROTO);
    }
    if (initialized_.exchange(false)) {
        reset(); // a second INIT without a reset: start afresh
    }
    const uint32_t minor = std::min(in->minor, kFuseMinor);
    uint64_t asked = in->flags;
    if ((in->flags & FUSE_INIT_EXT) != 0) {
        asked |= uint64_t{in->flags2} << 32;
    }
    const uint64_t agreed = asked & offered_flags(fs_.options().cache);
    out.minor = minor;
    out.max_readahead = std::min(in->max_readahead, kFuseMaxReadahead);
    out.flags = static_cast<uint32_t>(agreed);
    out.flags2 = static_cast<uint32_t>(agreed >> 32);
    out.max_background = kFuseMaxBackground;
    out.congestion_threshold = kFuseCongestionThreshold;
    out.max_write = kFuseMaxWrite;
    out.time_gran = 1; // timestamps to the nanosecond
    out.max_pages = (agreed & FUSE_MAX_PAGES) != 0 ? static_cast<uint16_t>(kFuseMaxPages) : 0;
    minor_ = minor;
    setxattr_ext_ = (agreed & FUSE_SETXATTR_EXT) != 0;
    initialized_ = true;
    spdlog::debug("{}: FUSE {}.{}, flags {:#x}", name_, kFuseMajor, minor, agreed);
    return c.reply.object(out);
}

uint32_t FuseServer::destroy(Context& c)
{
    reset();
    return c.reply.empty();
}

fuse_entry_out make_entry_out(const PassthroughFs& fs, const FsEntry& entry)
{
    const auto timeout = static_cast<uint64_t>(cache_timeout(fs.options().cache).count());
    fuse_entry_out out{};
    out.nodeid = entry.nodeid;
    out.generation = 0; // node ids are never reused
    out.entry_valid = timeout;
    out.attr_valid = timeout;
    out.attr = fs.to_fuse_attr(entry.st);
    return out;
}

fuse_attr_out FuseServer::attr_out(const struct stat& st) const
{
    fuse_attr_out out{};
    out.attr_valid = static_cast<uint64_t>(cache_timeout(fs_.options().cache).count());
    out.attr = fs_.to_fuse_attr(st);
    return out;
}

} // namespace minivmm::backends
