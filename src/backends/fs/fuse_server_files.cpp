// FuseServer: requests about open files and directories (OPEN, OPENDIR, CREATE, READ, WRITE,
// FLUSH, RELEASE, RELEASEDIR, FSYNC, FSYNCDIR, READDIR, READDIRPLUS, LSEEK, FALLOCATE,
// COPY_FILE_RANGE, SYNCFS).
#include "backends/fs/fuse_server.hpp"

#include "backends/fs/fuse_server_context.hpp"

#include <cerrno>
#include <cstring>
#include <vector>

namespace minivmm::backends {
namespace {

// Most bytes of directory entries one READDIR reply carries (the guest asks for a page).
constexpr size_t kMaxReaddir = 1 << 20;

uint32_t open_flags(FsCachePolicy cache, bool directory)
{
    switch (cache) {
    case FsCachePolicy::Never:
        return directory ? 0 : FOPEN_DIRECT_IO;
    case FsCachePolicy::Always:
        return FOPEN_KEEP_CACHE | (directory ? FOPEN_CACHE_DIR : 0);
    case FsCachePolicy::Auto:
        break;
    }
    return 0;
}

// READDIR/READDIRPLUS records (struct fuse_dirent, fuse_direntplus), 8-byte aligned, into a
// staging buffer that becomes the reply's payload.
class DirentSink final : public FsDirSink {
public:
    DirentSink(const PassthroughFs& fs, std::vector<std::byte>& out, size_t limit, bool plus)
        : fs_(fs), out_(out), limit_(limit), plus_(plus)
    {
        out_.clear();
    }

    [[nodiscard]] bool fits(size_t name_len) const override { return out_.size() + record_size(name_len) <= limit_; }

    void add(std::string_view name, uint64_t ino, uint32_t type, uint64_t next_offset, const FsEntry* entry) override
    {
        const size_t start = out_.size();
        out_.resize(start + record_size(name.size()), std::byte{0});
        size_t pos = start;
        if (plus_) {
            const fuse_entry_out e = entry != nullptr ? make_entry_out(fs_, *entry) : fuse_entry_out{};
            std::memcpy(&out_[pos], &e, sizeof(e));
            pos += sizeof(e);
        }
        const fuse_dirent d{ino, next_offset, static_cast<uint32_t>(name.size()), type};
        std::memcpy(&out_[pos], &d, sizeof(d));
        std::memcpy(&out_[pos + sizeof(d)], name.data(), name.size());
    }

private:
    [[nodiscard]] size_t record_size(size_t name_len) const
    {
        return FUSE_DIRENT_ALIGN((plus_ ? sizeof(fuse_entry_out) : 0) + FUSE_NAME_OFFSET + name_len);
    }

    const PassthroughFs& fs_;
    std::vector<std::byte>& out_;
    size_t limit_;
    bool plus_;
};

} // namespace

uint32_t FuseServer::open(Context& c, bool directory)
{
    const auto in = c.body.take<fuse_open_in>();
    if (!in) {
        return malformed(c, "OPEN shorter than its arguments", EINVAL);
    }
    auto fh = directory ? fs_.opendir(c.nodeid()) : fs_.open(c.nodeid(), in->flags);
    if (!fh.ok()) {
        return c.reply.error(fh.error());
    }
    const fuse_open_out out{fh.value(), open_flags(fs_.options().cache, directory), 0};
    return c.reply.object(out);
}

uint32_t FuseServer::create(Context& c)
{
    const auto in = c.body.take<fuse_create_in>();
    if (!in) {
        return malformed(c, "CREATE shorter than its arguments", EINVAL);
    }
    auto name = c.body.name();
    if (!name.ok()) {
        return c.reply.error(name.error());
    }
    auto made = fs_.create(c.nodeid(), name.value(), in->flags, in->mode, c.caller());
    if (!made.ok()) {
        return c.reply.error(made.error());
    }
    struct {
        fuse_entry_out entry;
        fuse_open_out open;
    } out{entry_out(made->entry), fuse_open_out{made->fh, open_flags(fs_.options().cache, false), 0}};
    static_assert(sizeof(out) == sizeof(fuse_entry_out) + sizeof(fuse_open_out));
    return c.reply.object(out);
}

uint32_t FuseServer::read(Context& c)
{
    const auto in = c.body.take<fuse_read_in>();
    if (!in) {
        return malformed(c, "READ shorter than its arguments", EINVAL);
    }
    // Straight into the guest's buffers, after the reply header; never more than it made room for.
    thread_local std::vector<iovec> iov;
    iov.clear();
    const size_t size = std::min<size_t>(in->size, c.reply.payload_capacity());
    static_cast<void>(c.reply.writer().slice(sizeof(fuse_out_header), size, iov));
    auto n = fs_.read(in->fh, in->offset, iov);
    return n.ok() ? c.reply.written(n.value()) : c.reply.error(n.error());
}

uint32_t FuseServer::write(Context& c)
{
    const auto in = c.body.take<fuse_write_in>();
    if (!in) {
        return malformed(c, "WRITE shorter than its arguments", EINVAL);
    }
    if (in->size > kFuseMaxWrite) {
        return malformed(c, "WRITE larger than max_write", EINVAL);
    }
    thread_local std::vector<iovec> iov;
    iov.clear();
    if (!c.reader.take(in->size, iov)) {
        return malformed(c, "WRITE size past the data sent", EINVAL);
    }
    auto n = fs_.write(in->fh, in->offset, iov);
    if (!n.ok()) {
        return c.reply.error(n.error());
    }
    const fuse_write_out out{static_cast<uint32_t>(n.value()), 0};
    return c.reply.object(out);
}

uint32_t FuseServer::flush(Context& c)
{
    const auto in = c.body.take<fuse_flush_in>();
    if (!in) {
        return malformed(c, "FLUSH shorter than its arguments", EINVAL);
    }
    const auto done = fs_.flush(in->fh);
    return done.ok() ? c.reply.empty() : c.reply.error(done.error());
}

uint32_t FuseServer::release(Context& c, bool directory)
{
    const auto in = c.body.take<fuse_release_in>();
    if (!in) {
        return malformed(c, "RELEASE shorter than its arguments", EINVAL);
    }
    const auto done = directory ? fs_.releasedir(in->fh)
                                : fs_.release(in->fh, (in->release_flags & FUSE_RELEASE_FLOCK_UNLOCK) != 0);
    waiters_.poke(); // a lock may have gone with the file
    return done.ok() ? c.reply.empty() : c.reply.error(done.error());
}

uint32_t FuseServer::fsync(Context& c, bool directory)
{
    const auto in = c.body.take<fuse_fsync_in>();
    if (!in) {
        return malformed(c, "FSYNC shorter than its arguments", EINVAL);
    }
    // Answered only once the data (and metadata unless FDATASYNC) is on the host's disk.
    const auto done = fs_.fsync(in->fh, (in->fsync_flags & FUSE_FSYNC_FDATASYNC) != 0, directory);
    return done.ok() ? c.reply.empty() : c.reply.error(done.error());
}

uint32_t FuseServer::readdir(Context& c, bool plus)
{
    const auto in = c.body.take<fuse_read_in>();
    if (!in) {
        return malformed(c, "READDIR shorter than its arguments", EINVAL);
    }
    thread_local std::vector<std::byte> entries;
    const size_t limit = std::min({size_t{in->size}, c.reply.payload_capacity(), kMaxReaddir});
    DirentSink sink(fs_, entries, limit, plus);
    const auto done = fs_.readdir(in->fh, in->offset, plus, sink);
    if (!done.ok()) {
        return c.reply.error(done.error());
    }
    return c.reply.bytes(entries);
}

uint32_t FuseServer::lseek(Context& c)
{
    const auto in = c.body.take<fuse_lseek_in>();
    if (!in) {
        return malformed(c, "LSEEK shorter than its arguments", EINVAL);
    }
    auto offset = fs_.lseek(in->fh, in->offset, in->whence);
    return offset.ok() ? c.reply.object(fuse_lseek_out{offset.value()}) : c.reply.error(offset.error());
}

uint32_t FuseServer::fallocate(Context& c)
{
    const auto in = c.body.take<fuse_fallocate_in>();
    if (!in) {
        return malformed(c, "FALLOCATE shorter than its arguments", EINVAL);
    }
    const auto done = fs_.fallocate(in->fh, in->offset, in->length, in->mode);
    return done.ok() ? c.reply.empty() : c.reply.error(done.error());
}

uint32_t FuseServer::copy_file_range(Context& c)
{
    const auto in = c.body.take<fuse_copy_file_range_in>();
    if (!in) {
        return malformed(c, "COPY_FILE_RANGE shorter than its arguments", EINVAL);
    }
    auto n = fs_.copy_file_range(in->fh_in, in->off_in, in->fh_out, in->off_out, in->len, in->flags);
    if (!n.ok()) {
        return c.reply.error(n.error());
    }
    return c.reply.object(fuse_write_out{static_cast<uint32_t>(n.value()), 0});
}

uint32_t FuseServer::syncfs(Context& c)
{
    const auto done = fs_.syncfs();
    return done.ok() ? c.reply.empty() : c.reply.error(done.error());
}

} // namespace minivmm::backends
