#include "support/fuse_client.hpp"

#include "devices/virtio/descriptor_chain.hpp"
#include "devices/virtio/mmio_registers.hpp"
#include "support/support_check.hpp"

#include <poll.h>

namespace minivmm::test {
namespace {

constexpr uint16_t kNext = virtio::kVirtqDescFNext;
constexpr uint16_t kWrite = virtio::kVirtqDescFWrite;

// Linux 6.1's INIT flags (fs/fuse/inode.c fuse_send_init), what the server must cope with.
constexpr uint32_t kLinuxInitFlags =
    FUSE_ASYNC_READ | FUSE_POSIX_LOCKS | FUSE_ATOMIC_O_TRUNC | FUSE_EXPORT_SUPPORT | FUSE_BIG_WRITES |
    FUSE_DONT_MASK | FUSE_SPLICE_WRITE | FUSE_SPLICE_MOVE | FUSE_SPLICE_READ | FUSE_FLOCK_LOCKS |
    FUSE_HAS_IOCTL_DIR | FUSE_AUTO_INVAL_DATA | FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO | FUSE_ASYNC_DIO |
    FUSE_WRITEBACK_CACHE | FUSE_NO_OPEN_SUPPORT | FUSE_PARALLEL_DIROPS | FUSE_HANDLE_KILLPRIV | FUSE_POSIX_ACL |
    FUSE_ABORT_ERROR | FUSE_MAX_PAGES | FUSE_CACHE_SYMLINKS | FUSE_NO_OPENDIR_SUPPORT | FUSE_EXPLICIT_INVAL_DATA |
    FUSE_HANDLE_KILLPRIV_V2 | FUSE_SETXATTR_EXT | FUSE_INIT_EXT;

std::vector<std::pair<uint64_t, uint32_t>> pieces(uint64_t addr, uint32_t len, size_t piece)
{
    std::vector<std::pair<uint64_t, uint32_t>> out;
    if (piece == 0) {
        piece = len;
    }
    for (uint32_t done = 0; done < len;) {
        const auto n = static_cast<uint32_t>(std::min<size_t>(piece, len - done));
        out.emplace_back(addr + done, n);
        done += n;
    }
    return out;
}

} // namespace

FuseClient::FuseClient(backends::FsOptions options, std::string tag, uint64_t ram, unsigned workers,
                       uint64_t extra_features, const util::SeccompPolicy* seccomp)
    : driver(
          [&](memory::GuestMemory& memory) {
              auto fs = std::make_unique<virtio::VirtioFs>(memory, tag, std::move(options), workers, seccomp);
              device = fs.get();
              return fs;
          },
          ram),
      extra_features_(extra_features)
{
    bring_up();
}

void FuseClient::bring_up()
{
    // Fresh rings, as a driver allocates them: no used entries left from before a reset.
    for (unsigned q = 0; q < 2; ++q) {
        driver.memory.fill(memory::GuestAddress{MmioDriver::ring_addr(q)}, MmioDriver::kRingStride, std::byte{0});
    }
    driver.avail_idx.clear();
    driver.bring_up(2, kQueueSize, virtio::kFIndirectDesc | extra_features_); // as Linux negotiates
    requests_.clear();
    for (unsigned q = 0; q < 2; ++q) {
        free_[q].clear();
        for (uint16_t i = kQueueSize; i > 0; --i) {
            free_[q].push_back(static_cast<uint16_t>(i - 1));
        }
        last_used_[q] = 0;
    }
}

void FuseClient::restart()
{
    driver.set(virtio::mmio::kStatus, 0);
    driver.notified.clear();
    bring_up();
}

uint64_t FuseClient::alloc(uint64_t len)
{
    heap_ = (heap_ + 15) / 16 * 16;
    const uint64_t addr = heap_;
    heap_ += std::max<uint64_t>(len, 1);
    support_check(heap_ <= driver.memory.size(), "the FUSE client's buffers are out of guest RAM");
    return addr;
}

uint64_t FuseClient::offer(unsigned queue, std::span<const std::byte> in, uint32_t out_size, const Shape& shape,
                           uint64_t unique)
{
    if (requests_.empty()) {
        heap_ = kHeapStart; // nothing in flight: the buffers start over
    }
    // The readable bytes: header and arguments in one descriptor each unless cut otherwise.
    const uint64_t in_addr = alloc(in.size());
    driver.memory.write(memory::GuestAddress{in_addr}, in);
    std::vector<std::pair<uint64_t, uint32_t>> readable;
    if (shape.in_piece == 0 && in.size() > sizeof(fuse_in_header)) {
        readable = {{in_addr, static_cast<uint32_t>(sizeof(fuse_in_header))},
                    {in_addr + sizeof(fuse_in_header), static_cast<uint32_t>(in.size() - sizeof(fuse_in_header))}};
    } else {
        readable = pieces(in_addr, static_cast<uint32_t>(in.size()), shape.in_piece);
    }
    const uint64_t out_addr = alloc(out_size);
    driver.memory.fill(memory::GuestAddress{out_addr}, out_size, std::byte{0xee});
    std::vector<std::pair<uint64_t, uint32_t>> writable;
    if (shape.out_piece == 0 && out_size > sizeof(fuse_out_header)) {
        writable = {{out_addr, static_cast<uint32_t>(sizeof(fuse_out_header))},
                    {out_addr + sizeof(fuse_out_header), out_size - static_cast<uint32_t>(sizeof(fuse_out_header))}};
    } else {
        writable = pieces(out_addr, out_size, shape.out_piece);
    }
    const size_t count = readable.size() + writable.size();
    support_check(count > 0, "a request with no buffers");
    Request r;
    r.queue = queue;
    r.out_addr = out_addr;
    r.out_size = out_size;
    r.unique = unique;
    auto& free = free_[queue];
    auto take = [&] {
        support_check(!free.empty(), "no free descriptor on the FUSE client's queue");
        const uint16_t d = free.back();
        free.pop_back();
        r.descs.push_back(d);
        return d;
    };
    std::vector<std::pair<uint64_t, uint32_t>> all = readable;
    all.insert(all.end(), writable.begin(), writable.end());
    if (shape.indirect) {
        const uint64_t table = alloc(count * 16);
        for (size_t i = 0; i < count; ++i) {
            const bool last = i + 1 == count;
            const uint16_t flags = static_cast<uint16_t>((last ? 0 : kNext) | (i >= readable.size() ? kWrite : 0));
            driver.memory.write_obj(memory::GuestAddress{table + i * 16},
                                    virtio::VirtqDesc{all[i].first, all[i].second, flags, static_cast<uint16_t>(i + 1)});
        }
        r.head = take();
        driver.desc(queue, r.head, table, static_cast<uint32_t>(count * 16), virtio::kVirtqDescFIndirect);
    } else {
        std::vector<uint16_t> descs;
        for (size_t i = 0; i < count; ++i) {
            descs.push_back(take());
        }
        for (size_t i = 0; i < count; ++i) {
            const bool last = i + 1 == count;
            const uint16_t flags = static_cast<uint16_t>((last ? 0 : kNext) | (i >= readable.size() ? kWrite : 0));
            driver.desc(queue, descs[i], all[i].first, all[i].second, flags, last ? 0 : descs[i + 1]);
        }
        r.head = descs.front();
    }
    const uint64_t ticket = next_ticket_++;
    requests_.emplace(ticket, std::move(r));
    driver.offer(queue, requests_.at(ticket).head);
    driver.kick(queue);
    return ticket;
}

uint64_t FuseClient::submit(uint32_t opcode, uint64_t nodeid, std::span<const std::byte> args, uint32_t out_size,
                            unsigned queue, const Shape& shape)
{
    const uint64_t unique = next_unique_;
    next_unique_ += 2;
    fuse_in_header header{};
    header.len = static_cast<uint32_t>(sizeof(header) + args.size());
    header.opcode = opcode;
    header.unique = unique;
    header.nodeid = nodeid;
    header.uid = uid;
    header.gid = gid;
    header.pid = pid;
    std::vector<std::byte> in(sizeof(header));
    std::memcpy(in.data(), &header, sizeof(header));
    in.insert(in.end(), args.begin(), args.end());
    // FORGET, BATCH_FORGET and INTERRUPT get no reply: no writable buffer, as Linux sends them.
    const bool no_reply = opcode == FUSE_FORGET || opcode == FUSE_BATCH_FORGET || opcode == FUSE_INTERRUPT;
    return offer(queue, in, no_reply ? 0 : static_cast<uint32_t>(sizeof(fuse_out_header) + out_size), shape, unique);
}

uint64_t FuseClient::submit_raw(std::span<const std::byte> in, uint32_t out_size, unsigned queue, const Shape& shape)
{
    uint64_t unique = 0;
    if (in.size() >= sizeof(fuse_in_header)) {
        std::memcpy(&unique, in.data() + offsetof(fuse_in_header, unique), sizeof(unique));
    }
    return offer(queue, in, out_size, shape, unique);
}

void FuseClient::collect_used()
{
    for (unsigned q = 0; q < 2; ++q) {
        const uint16_t idx = driver.used_idx(q);
        for (uint16_t& last = last_used_[q]; last != idx; ++last) {
            const uint64_t entry = MmioDriver::ring_addr(q) + 0x2000 + 4 + (last % kQueueSize) * 8ULL;
            const auto id = driver.memory.read_obj<uint32_t>(memory::GuestAddress{entry});
            const auto len = driver.memory.read_obj<uint32_t>(memory::GuestAddress{entry + 4});
            for (auto& [ticket, r] : requests_) {
                if (r.queue == q && r.head == id && !r.used) {
                    r.used = true;
                    r.used_len = len;
                    break;
                }
            }
        }
    }
}

bool FuseClient::io_ready()
{
    std::vector<pollfd> fds;
    for (const auto& [fd, watch] : driver.poller.watches) {
        fds.push_back(pollfd{fd, static_cast<short>(watch.events), 0});
    }
    return !fds.empty() && ::poll(fds.data(), fds.size(), 0) > 0;
}

bool FuseClient::answered(uint64_t ticket)
{
    driver.run_io();
    collect_used();
    const auto it = requests_.find(ticket);
    support_check(it != requests_.end(), "no such FUSE request");
    return it->second.used;
}

FuseClient::Reply FuseClient::wait(uint64_t ticket, std::chrono::milliseconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const int interrupts = driver.irq->count;
        if (answered(ticket)) {
            break;
        }
        support_check(std::chrono::steady_clock::now() < deadline, "no reply from the virtio-fs device in time");
        // A worker that finds the device lock free puts its reply on the used ring itself
        // (try_locked) and raises the interrupt, with no eventfd to wake a poll: wait for that
        // interrupt (a nap of 20 us took ~60 us with the timer slack, ~10% of fuzz_fs's
        // time); the time limit covers a reply that needs none (a suppressed interrupt).
        if (!io_ready()) {
            driver.irq->wait_for_change(interrupts, std::chrono::microseconds(200));
        }
    }
    auto node = requests_.extract(ticket);
    Request& r = node.mapped();
    free_[r.queue].insert(free_[r.queue].end(), r.descs.begin(), r.descs.end());
    Reply reply;
    reply.used_len = r.used_len;
    if (r.used_len >= sizeof(fuse_out_header) && r.out_size >= sizeof(fuse_out_header)) {
        const auto header = driver.memory.read_obj<fuse_out_header>(memory::GuestAddress{r.out_addr});
        reply.error = -header.error;
        reply.header_len = header.len;
        reply.unique = header.unique;
        const uint32_t payload = std::min(r.used_len, r.out_size) - static_cast<uint32_t>(sizeof(fuse_out_header));
        reply.payload.resize(payload);
        driver.memory.read(memory::GuestAddress{r.out_addr + sizeof(fuse_out_header)}, reply.payload);
    }
    return reply;
}

FuseClient::Reply FuseClient::init(uint32_t minor, uint32_t flags)
{
    fuse_init_in in{};
    in.major = FUSE_KERNEL_VERSION;
    in.minor = minor;
    in.max_readahead = 128 * 1024;
    const uint64_t all = flags != 0 ? flags : (kLinuxInitFlags | (uint64_t{FUSE_SECURITY_CTX} ));
    in.flags = static_cast<uint32_t>(all);
    in.flags2 = static_cast<uint32_t>(all >> 32);
    auto reply = call(FUSE_INIT, 0, FuseArgs().add(in).bytes(), sizeof(fuse_init_out));
    if (reply.error != 0 || reply.used_len == 0) {
        throw SupportError("test support: INIT failed: errno " + std::to_string(reply.error) + ", " +
                           std::to_string(reply.used_len) + " bytes written");
    }
    return reply;
}

FuseClient::Reply FuseClient::lookup(uint64_t parent, std::string_view name)
{
    return call(FUSE_LOOKUP, parent, FuseArgs().name(name).bytes(), sizeof(fuse_entry_out));
}

void FuseClient::forget(uint64_t nodeid, uint64_t nlookup)
{
    const auto ticket = submit(FUSE_FORGET, nodeid, FuseArgs().add(fuse_forget_in{nlookup}).bytes(), 0,
                               virtio::VirtioFs::kHiprioQueue);
    wait(ticket);
}

FuseClient::Reply FuseClient::getattr(uint64_t nodeid)
{
    return call(FUSE_GETATTR, nodeid, FuseArgs().add(fuse_getattr_in{}).bytes(), sizeof(fuse_attr_out));
}

FuseClient::Reply FuseClient::setattr(uint64_t nodeid, const fuse_setattr_in& in)
{
    return call(FUSE_SETATTR, nodeid, FuseArgs().add(in).bytes(), sizeof(fuse_attr_out));
}

FuseClient::Reply FuseClient::mkdir(uint64_t parent, std::string_view name, uint32_t mode)
{
    return call(FUSE_MKDIR, parent, FuseArgs().add(fuse_mkdir_in{mode, 0}).name(name).bytes(), sizeof(fuse_entry_out));
}

FuseClient::Reply FuseClient::mknod(uint64_t parent, std::string_view name, uint32_t mode, uint32_t rdev)
{
    return call(FUSE_MKNOD, parent, FuseArgs().add(fuse_mknod_in{mode, rdev, 0, 0}).name(name).bytes(),
                sizeof(fuse_entry_out));
}

FuseClient::Reply FuseClient::symlink(uint64_t parent, std::string_view name, std::string_view target)
{
    return call(FUSE_SYMLINK, parent, FuseArgs().name(name).name(target).bytes(), sizeof(fuse_entry_out));
}

FuseClient::Reply FuseClient::readlink(uint64_t nodeid) { return call(FUSE_READLINK, nodeid, {}, 4096); }

FuseClient::Reply FuseClient::link(uint64_t nodeid, uint64_t new_parent, std::string_view name)
{
    return call(FUSE_LINK, new_parent, FuseArgs().add(fuse_link_in{nodeid}).name(name).bytes(),
                sizeof(fuse_entry_out));
}

FuseClient::Reply FuseClient::unlink(uint64_t parent, std::string_view name)
{
    return call(FUSE_UNLINK, parent, FuseArgs().name(name).bytes(), 0);
}

FuseClient::Reply FuseClient::rmdir(uint64_t parent, std::string_view name)
{
    return call(FUSE_RMDIR, parent, FuseArgs().name(name).bytes(), 0);
}

FuseClient::Reply FuseClient::rename(uint64_t parent, std::string_view name, uint64_t new_parent,
                                     std::string_view new_name, uint32_t flags)
{
    if (flags == 0) {
        return call(FUSE_RENAME, parent, FuseArgs().add(fuse_rename_in{new_parent}).name(name).name(new_name).bytes(),
                    0);
    }
    return call(FUSE_RENAME2, parent,
                FuseArgs().add(fuse_rename2_in{new_parent, flags, 0}).name(name).name(new_name).bytes(), 0);
}

FuseClient::Reply FuseClient::open(uint64_t nodeid, uint32_t flags)
{
    return call(FUSE_OPEN, nodeid, FuseArgs().add(fuse_open_in{flags, 0}).bytes(), sizeof(fuse_open_out));
}

FuseClient::Reply FuseClient::opendir(uint64_t nodeid)
{
    return call(FUSE_OPENDIR, nodeid, FuseArgs().add(fuse_open_in{0, 0}).bytes(), sizeof(fuse_open_out));
}

FuseClient::Reply FuseClient::create(uint64_t parent, std::string_view name, uint32_t flags, uint32_t mode)
{
    return call(FUSE_CREATE, parent, FuseArgs().add(fuse_create_in{flags, mode, 0, 0}).name(name).bytes(),
                sizeof(fuse_entry_out) + sizeof(fuse_open_out));
}

FuseClient::Reply FuseClient::read(uint64_t fh, uint64_t offset, uint32_t size)
{
    fuse_read_in in{};
    in.fh = fh;
    in.offset = offset;
    in.size = size;
    return call(FUSE_READ, 0, FuseArgs().add(in).bytes(), size);
}

FuseClient::Reply FuseClient::write(uint64_t fh, uint64_t offset, std::span<const std::byte> data)
{
    fuse_write_in in{};
    in.fh = fh;
    in.offset = offset;
    in.size = static_cast<uint32_t>(data.size());
    return call(FUSE_WRITE, 0, FuseArgs().add(in).raw(data).bytes(), sizeof(fuse_write_out));
}

FuseClient::Reply FuseClient::flush(uint64_t fh)
{
    fuse_flush_in in{};
    in.fh = fh;
    return call(FUSE_FLUSH, 0, FuseArgs().add(in).bytes(), 0);
}

FuseClient::Reply FuseClient::release(uint64_t fh, bool directory)
{
    fuse_release_in in{};
    in.fh = fh;
    return call(directory ? FUSE_RELEASEDIR : FUSE_RELEASE, 0, FuseArgs().add(in).bytes(), 0);
}

FuseClient::Reply FuseClient::fsync(uint64_t fh, bool datasync, bool directory)
{
    fuse_fsync_in in{};
    in.fh = fh;
    in.fsync_flags = datasync ? FUSE_FSYNC_FDATASYNC : 0;
    return call(directory ? FUSE_FSYNCDIR : FUSE_FSYNC, 0, FuseArgs().add(in).bytes(), 0);
}

FuseClient::Reply FuseClient::readdir(uint64_t fh, uint64_t offset, uint32_t size, bool plus)
{
    fuse_read_in in{};
    in.fh = fh;
    in.offset = offset;
    in.size = size;
    return call(plus ? FUSE_READDIRPLUS : FUSE_READDIR, 0, FuseArgs().add(in).bytes(), size);
}

FuseClient::Reply FuseClient::statfs(uint64_t nodeid) { return call(FUSE_STATFS, nodeid, {}, sizeof(fuse_statfs_out)); }

FuseClient::Reply FuseClient::access(uint64_t nodeid, uint32_t mask, uint32_t caller_uid, uint32_t caller_gid)
{
    const uint32_t saved_uid = uid;
    const uint32_t saved_gid = gid;
    uid = caller_uid;
    gid = caller_gid;
    auto reply = call(FUSE_ACCESS, nodeid, FuseArgs().add(fuse_access_in{mask, 0}).bytes(), 0);
    uid = saved_uid;
    gid = saved_gid;
    return reply;
}

FuseClient::Reply FuseClient::getxattr(uint64_t nodeid, std::string_view name, uint32_t size)
{
    return call(FUSE_GETXATTR, nodeid, FuseArgs().add(fuse_getxattr_in{size, 0}).name(name).bytes(),
                std::max<uint32_t>(size, sizeof(fuse_getxattr_out)));
}

FuseClient::Reply FuseClient::listxattr(uint64_t nodeid, uint32_t size)
{
    return call(FUSE_LISTXATTR, nodeid, FuseArgs().add(fuse_getxattr_in{size, 0}).bytes(),
                std::max<uint32_t>(size, sizeof(fuse_getxattr_out)));
}

FuseClient::Reply FuseClient::setxattr(uint64_t nodeid, std::string_view name, std::string_view value, uint32_t flags)
{
    return call(FUSE_SETXATTR, nodeid,
                FuseArgs()
                    .add(fuse_setxattr_in{static_cast<uint32_t>(value.size()), flags, 0, 0})
                    .name(name)
                    .raw(std::as_bytes(std::span(value.data(), value.size())))
                    .bytes(),
                0);
}

FuseClient::Reply FuseClient::removexattr(uint64_t nodeid, std::string_view name)
{
    return call(FUSE_REMOVEXATTR, nodeid, FuseArgs().name(name).bytes(), 0);
}

FuseClient::Reply FuseClient::lseek(uint64_t fh, uint64_t offset, uint32_t whence)
{
    return call(FUSE_LSEEK, 0, FuseArgs().add(fuse_lseek_in{fh, offset, whence, 0}).bytes(), sizeof(fuse_lseek_out));
}

FuseClient::Reply FuseClient::fallocate(uint64_t fh, uint64_t offset, uint64_t length, uint32_t mode)
{
    return call(FUSE_FALLOCATE, 0, FuseArgs().add(fuse_fallocate_in{fh, offset, length, mode, 0}).bytes(), 0);
}

FuseClient::Reply FuseClient::copy_file_range(uint64_t fh_in, uint64_t off_in, uint64_t nodeid_out, uint64_t fh_out,
                                              uint64_t off_out, uint64_t len)
{
    return call(FUSE_COPY_FILE_RANGE, 0,
                FuseArgs().add(fuse_copy_file_range_in{fh_in, off_in, nodeid_out, fh_out, off_out, len, 0}).bytes(),
                sizeof(fuse_write_out));
}

FuseClient::Reply FuseClient::getlk(uint64_t nodeid, uint64_t fh, uint64_t owner, const fuse_file_lock& lock)
{
    return call(FUSE_GETLK, nodeid, FuseArgs().add(fuse_lk_in{fh, owner, lock, 0, 0}).bytes(), sizeof(fuse_lk_out));
}

uint64_t FuseClient::submit_setlk(uint64_t nodeid, uint64_t fh, uint64_t owner, const fuse_file_lock& lock, bool wait,
                                  bool flock)
{
    return submit(wait ? FUSE_SETLKW : FUSE_SETLK, nodeid,
                  FuseArgs().add(fuse_lk_in{fh, owner, lock, flock ? FUSE_LK_FLOCK : 0U, 0}).bytes(), 0);
}

void FuseClient::interrupt(uint64_t unique)
{
    wait(submit(FUSE_INTERRUPT, 0, FuseArgs().add(fuse_interrupt_in{unique}).bytes(), 0,
                virtio::VirtioFs::kHiprioQueue));
}

std::vector<FuseClient::Dirent> FuseClient::parse_dirents(const Reply& reply, bool plus)
{
    std::vector<Dirent> out;
    size_t pos = 0;
    const auto& p = reply.payload;
    const size_t entry_size = plus ? sizeof(fuse_entry_out) : 0;
    while (pos + entry_size + sizeof(fuse_dirent) <= p.size()) {
        Dirent d;
        if (plus) {
            std::memcpy(&d.entry, &p[pos], sizeof(d.entry));
        }
        fuse_dirent dirent{};
        std::memcpy(&dirent, &p[pos + entry_size], sizeof(dirent));
        d.ino = dirent.ino;
        d.off = dirent.off;
        d.type = dirent.type;
        const size_t name_at = pos + entry_size + sizeof(fuse_dirent);
        support_check(name_at + dirent.namelen <= p.size(), "a dirent name past the reply");
        d.name.resize(dirent.namelen);
        std::memcpy(d.name.data(), &p[name_at], dirent.namelen);
        pos += FUSE_DIRENT_ALIGN(entry_size + sizeof(fuse_dirent) + dirent.namelen);
        out.push_back(std::move(d));
    }
    return out;
}

} // namespace minivmm::test
