// FuseServer: extended attributes (GETXATTR, LISTXATTR, SETXATTR, REMOVEXATTR) and locks
// (GETLK, SETLK, SETLKW, INTERRUPT).
#include "backends/fs/fuse_server.hpp"

#include "backends/fs/fuse_server_context.hpp"

#include <fcntl.h>

#include <cerrno>

namespace minivmm::backends {

uint32_t FuseServer::getxattr(Context& c, bool list)
{
    const auto in = c.body.take<fuse_getxattr_in>();
    if (!in) {
        return malformed(c, "GETXATTR shorter than its arguments", EINVAL);
    }
    // Never more than the guest made room for (a larger value is ERANGE, as for getxattr(2)).
    const auto size = static_cast<uint32_t>(std::min<size_t>(in->size, c.reply.payload_capacity()));
    FsResult<FsXattr> value = Errno{EINVAL};
    if (list) {
        value = fs_.listxattr(c.nodeid(), size);
    } else {
        const auto name = c.body.string(kFuseXattrNameMax);
        if (!name) {
            return c.reply.error(ERANGE);
        }
        value = fs_.getxattr(c.nodeid(), *name, size);
    }
    if (!value.ok()) {
        return c.reply.error(value.error());
    }
    if (in->size == 0) {
        return c.reply.object(fuse_getxattr_out{static_cast<uint32_t>(value->size), 0});
    }
    return c.reply.bytes(value->data);
}

uint32_t FuseServer::setxattr(Context& c)
{
    // fuse_setxattr_in is 16 bytes with FUSE_SETXATTR_EXT, 8 without.
    const size_t header = setxattr_ext_.load() ? sizeof(fuse_setxattr_in) : FUSE_COMPAT_SETXATTR_IN_SIZE;
    const auto in = c.body.take_prefix<fuse_setxattr_in>(header);
    if (!in) {
        return malformed(c, "SETXATTR shorter than its arguments", EINVAL);
    }
    const auto name = c.body.string(kFuseXattrNameMax);
    if (!name) {
        return c.reply.error(ERANGE);
    }
    if (in->size > kFuseXattrSizeMax) {
        return c.reply.error(E2BIG);
    }
    const auto value = c.body.bytes(in->size);
    if (!value) {
        return malformed(c, "SETXATTR value past the data sent", EINVAL);
    }
    const auto done = fs_.setxattr(c.nodeid(), *name, *value, in->flags);
    return done.ok() ? c.reply.empty() : c.reply.error(done.error());
}

uint32_t FuseServer::removexattr(Context& c)
{
    const auto name = c.body.string(kFuseXattrNameMax);
    if (!name) {
        return c.reply.error(ERANGE);
    }
    const auto done = fs_.removexattr(c.nodeid(), *name);
    return done.ok() ? c.reply.empty() : c.reply.error(done.error());
}

uint32_t FuseServer::getlk(Context& c)
{
    const auto in = c.body.take<fuse_lk_in>();
    if (!in) {
        return malformed(c, "GETLK shorter than its arguments", EINVAL);
    }
    auto lock = fs_.getlk(c.nodeid(), in->fh, in->owner, in->lk);
    return lock.ok() ? c.reply.object(fuse_lk_out{lock.value()}) : c.reply.error(lock.error());
}

std::optional<uint32_t> FuseServer::setlk(Context& c, bool wait)
{
    const auto in = c.body.take<fuse_lk_in>();
    if (!in) {
        return malformed(c, "SETLK shorter than its arguments", EINVAL);
    }
    const bool flock = (in->lk_flags & FUSE_LK_FLOCK) != 0;
    const uint64_t nodeid = c.nodeid();
    const auto done = fs_.setlk(nodeid, in->fh, in->owner, in->lk, flock);
    if (!done.ok() && done.error() == EAGAIN && wait) {
        // Parked with its reply buffers until the lock is free (or the guest interrupts it).
        FuseLockWaiters::Waiter waiter;
        waiter.token = c.token;
        waiter.unique = c.header.unique;
        waiter.attempt = [this, nodeid, args = *in, flock] {
            return fs_.setlk(nodeid, args.fh, args.owner, args.lk, flock);
        };
        waiter.out.assign(c.request.out.begin(), c.request.out.end());
        waiters_.park(std::move(waiter));
        return std::nullopt;
    }
    if (in->lk.type == F_UNLCK) {
        waiters_.poke();
    }
    return done.ok() ? c.reply.empty() : c.reply.error(done.error());
}

uint32_t FuseServer::interrupt(Context& c)
{
    if (const auto in = c.body.take<fuse_interrupt_in>()) {
        static_cast<void>(waiters_.interrupt(in->unique));
    }
    return 0; // INTERRUPT has no reply of its own
}

} // namespace minivmm::backends
