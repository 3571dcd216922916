// FuseServer: requests about names and attributes (LOOKUP, FORGET, BATCH_FORGET, GETATTR,
// SETATTR, READLINK, SYMLINK, MKNOD, MKDIR, UNLINK, RMDIR, RENAME, RENAME2, LINK, STATFS, ACCESS).
#include "backends/fs/fuse_server.hpp"

#include "backends/fs/fuse_server_context.hpp"

#include <cerrno>

namespace minivmm::backends {
namespace {

// Most entries one BATCH_FORGET may carry: what fits in the largest request.
constexpr uint32_t kMaxBatchForget = kFuseMaxRequest / sizeof(fuse_forget_one);

} // namespace

uint32_t FuseServer::lookup(Context& c)
{
    auto name = c.body.name();
    if (!name.ok()) {
        return c.reply.error(name.error());
    }
    auto entry = fs_.lookup(c.nodeid(), name.value());
    if (!entry.ok()) {
        if (entry.error() == ENOENT && fs_.options().cache == FsCachePolicy::Always) {
            // A negative entry the guest may keep as long as positive ones (nodeid 0).
            fuse_entry_out out{};
            out.entry_valid = static_cast<uint64_t>(cache_timeout(FsCachePolicy::Always).count());
            return c.reply.object(out);
        }
        return c.reply.error(entry.error());
    }
    return c.reply.object(entry_out(entry.value()));
}

uint32_t FuseServer::forget(Context& c)
{
    if (const auto in = c.body.take<fuse_forget_in>()) {
        fs_.forget(c.nodeid(), in->nlookup);
    }
    return 0; // FORGET has no reply
}

uint32_t FuseServer::batch_forget(Context& c)
{
    const auto in = c.body.take<fuse_batch_forget_in>();
    if (!in) {
        return 0;
    }
    // As many as arrived, never more than the count says.
    for (uint32_t i = 0; i < std::min(in->count, kMaxBatchForget); ++i) {
        const auto one = c.body.take<fuse_forget_one>();
        if (!one) {
            break;
        }
        fs_.forget(one->nodeid, one->nlookup);
    }
    return 0;
}

uint32_t FuseServer::getattr(Context& c)
{
    // fuse_getattr_in names a file handle for fstat(); the inode's own fd answers the same.
    if (!c.body.take<fuse_getattr_in>()) {
        return malformed(c, "GETATTR shorter than its arguments", EINVAL);
    }
    auto st = fs_.getattr(c.nodeid());
    return st.ok() ? c.reply.object(attr_out(st.value())) : c.reply.error(st.error());
}

uint32_t FuseServer::setattr(Context& c)
{
    const auto in = c.body.take<fuse_setattr_in>();
    if (!in) {
        return malformed(c, "SETATTR shorter than its arguments", EINVAL);
    }
    auto st = fs_.setattr(c.nodeid(), *in);
    return st.ok() ? c.reply.object(attr_out(st.value())) : c.reply.error(st.error());
}

uint32_t FuseServer::readlink(Context& c)
{
    auto target = fs_.readlink(c.nodeid());
    if (!target.ok()) {
        return c.reply.error(target.error());
    }
    return c.reply.bytes(std::as_bytes(std::span(target->data(), target->size())));
}

uint32_t FuseServer::symlink(Context& c)
{
    // The link's name, then its target.
    auto name = c.body.name();
    if (!name.ok()) {
        return c.reply.error(name.error());
    }
    const auto target = c.body.string(kFusePathMax);
    if (!target) {
        return c.reply.error(ENAMETOOLONG);
    }
    auto entry = fs_.symlink(c.nodeid(), name.value(), *target, c.caller());
    return entry.ok() ? c.reply.object(entry_out(entry.value())) : c.reply.error(entry.error());
}

uint32_t FuseServer::mknod(Context& c)
{
    const auto in = c.body.take<fuse_mknod_in>();
    if (!in) {
        return malformed(c, "MKNOD shorter than its arguments", EINVAL);
    }
    auto name = c.body.name();
    if (!name.ok()) {
        return c.reply.error(name.error());
    }
    auto entry = fs_.mknod(c.nodeid(), name.value(), in->mode, in->rdev, c.caller());
    return entry.ok() ? c.reply.object(entry_out(entry.value())) : c.reply.error(entry.error());
}

uint32_t FuseServer::mkdir(Context& c)
{
    const auto in = c.body.take<fuse_mkdir_in>();
    if (!in) {
        return malformed(c, "MKDIR shorter than its arguments", EINVAL);
    }
    auto name = c.body.name();
    if (!name.ok()) {
        return c.reply.error(name.error());
    }
    auto entry = fs_.mkdir(c.nodeid(), name.value(), in->mode, c.caller());
    return entry.ok() ? c.reply.object(entry_out(entry.value())) : c.reply.error(entry.error());
}

uint32_t FuseServer::unlink(Context& c, bool directory)
{
    auto name = c.body.name();
    if (!name.ok()) {
        return c.reply.error(name.error());
    }
    const auto done = directory ? fs_.rmdir(c.nodeid(), name.value()) : fs_.unlink(c.nodeid(), name.value());
    return done.ok() ? c.reply.empty() : c.reply.error(done.error());
}

uint32_t FuseServer::rename(Context& c, bool with_flags)
{
    uint64_t new_parent = 0;
    uint32_t flags = 0;
    if (with_flags) {
        const auto in = c.body.take<fuse_rename2_in>();
        if (!in) {
            return malformed(c, "RENAME2 shorter than its arguments", EINVAL);
        }
        new_parent = in->newdir;
        flags = in->flags;
    } else {
        const auto in = c.body.take<fuse_rename_in>();
        if (!in) {
            return malformed(c, "RENAME shorter than its arguments", EINVAL);
        }
        new_parent = in->newdir;
    }
    auto old_name = c.body.name();
    if (!old_name.ok()) {
        return c.reply.error(old_name.error());
    }
    auto new_name = c.body.name();
    if (!new_name.ok()) {
        return c.reply.error(new_name.error());
    }
    const auto done = fs_.rename(c.nodeid(), old_name.value(), new_parent, new_name.value(), flags);
    return done.ok() ? c.reply.empty() : c.reply.error(done.error());
}

uint32_t FuseServer::link(Context& c)
{
    const auto in = c.body.take<fuse_link_in>();
    if (!in) {
        return malformed(c, "LINK shorter than its arguments", EINVAL);
    }
    auto name = c.body.name();
    if (!name.ok()) {
        return c.reply.error(name.error());
    }
    // The header's node is the new name's directory; the argument is the inode to link.
    auto entry = fs_.link(in->oldnodeid, c.nodeid(), name.value());
    return entry.ok() ? c.reply.object(entry_out(entry.value())) : c.reply.error(entry.error());
}

uint32_t FuseServer::statfs(Context& c)
{
    auto st = fs_.statfs(c.nodeid());
    if (!st.ok()) {
        return c.reply.error(st.error());
    }
    fuse_statfs_out out{};
    out.st.blocks = st->f_blocks;
    out.st.bfree = st->f_bfree;
    out.st.bavail = st->f_bavail;
    out.st.files = st->f_files;
    out.st.ffree = st->f_ffree;
    out.st.bsize = static_cast<uint32_t>(st->f_bsize);
    out.st.namelen = static_cast<uint32_t>(st->f_namemax);
    out.st.frsize = static_cast<uint32_t>(st->f_frsize);
    return c.reply.object(out);
}

uint32_t FuseServer::access(Context& c)
{
    const auto in = c.body.take<fuse_access_in>();
    if (!in) {
        return malformed(c, "ACCESS shorter than its arguments", EINVAL);
    }
    const auto done = fs_.access(c.nodeid(), in->mask, c.caller());
    return done.ok() ? c.reply.empty() : c.reply.error(done.error());
}

} // namespace minivmm::backends
