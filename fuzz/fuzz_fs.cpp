// libFuzzer target: the virtio-fs device and its FUSE server on a scratch directory, driven by a
// hostile guest through the virtio-mmio transport. The input is a little program:
//   0 op:u8 node:u8 fh:u8 len:u8 args[len*2] out:u16 shape:u8   a FUSE request (op picks from the
//                      opcodes, or takes a u32 when >= 64); node/fh pick a node id or file handle
//                      seen in earlier replies (or the raw byte); shape: in/out piece sizes,
//                      indirect, hiprio queue, don't wait
//   1 len:u8 bytes[len] out:u16     raw readable bytes (a malformed request)
//   2                               wait for every outstanding reply
//   3 off:u16 v:u32                 a transport register write (reset, queue set-up...)
//   4 addr:u32 n:u8 bytes[n]        guest RAM write (rings, buffers in flight)
//   5 which:u8                      a host process moves "d" away and puts a symlink to outside in its
//                                   place, or back
// Each input starts from the same state: the server with nothing looked up or open, INIT done
// (after a reset and bring-up when the previous input wrote registers or guest RAM, or left
// the device stopped or requests unanswered; else after DESTROY), the scratch share holding
// the same small tree (rebuilt when something in it changed). Afterwards nothing outside the
// share may have changed (checked: a crash otherwise), and the device must still answer. Files
// are kept small (RLIMIT_FSIZE) so that a guest's writes cannot fill the host's /tmp.
#include "fuzz_support.hpp"
#include "devices/virtio/mmio_registers.hpp"
#include "support/fuse_client.hpp"
#include "support/support_check.hpp"
#include "support/temp_dir.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <thread>
#include <vector>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace minivmm;

namespace {

constexpr uint32_t kOpcodes[] = {
    FUSE_LOOKUP,  FUSE_FORGET,   FUSE_GETATTR,    FUSE_SETATTR,     FUSE_READLINK,    FUSE_SYMLINK,    FUSE_MKNOD,
    FUSE_MKDIR,   FUSE_UNLINK,   FUSE_RMDIR,      FUSE_RENAME,      FUSE_LINK,        FUSE_OPEN,       FUSE_READ,
    FUSE_WRITE,   FUSE_STATFS,   FUSE_RELEASE,    FUSE_FSYNC,       FUSE_SETXATTR,    FUSE_GETXATTR,   FUSE_LISTXATTR,
    FUSE_REMOVEXATTR, FUSE_FLUSH, FUSE_INIT,      FUSE_OPENDIR,     FUSE_READDIR,     FUSE_RELEASEDIR, FUSE_FSYNCDIR,
    FUSE_GETLK,   FUSE_SETLK,    FUSE_SETLKW,     FUSE_ACCESS,      FUSE_CREATE,      FUSE_INTERRUPT,  FUSE_BMAP,
    FUSE_DESTROY, FUSE_IOCTL,    FUSE_POLL,       FUSE_BATCH_FORGET, FUSE_FALLOCATE,  FUSE_READDIRPLUS, FUSE_RENAME2,
    FUSE_LSEEK,   FUSE_COPY_FILE_RANGE, FUSE_SETUPMAPPING, FUSE_SYNCFS, FUSE_TMPFILE};
constexpr size_t kOpcodeCount = sizeof(kOpcodes) / sizeof(kOpcodes[0]);
constexpr auto kWait = std::chrono::milliseconds(20);

// tmpfs where there is one.
const char* scratch_parent()
{
    static const bool shm = std::filesystem::is_directory("/dev/shm") && ::access("/dev/shm", W_OK) == 0;
    if (shm) {
        ::setenv("TMPDIR", "/dev/shm", 1);
    }
    return "minivmm-fuzz-fs";
}

// What says an entry changed: any change to it (data, mode, owner, links, names in it) moves
// its ctime.
struct Mark {
    timespec ctime{};
    off_t size = 0;
    nlink_t links = 0;
    mode_t mode = 0;
    bool present = false;

    static Mark of(const std::filesystem::path& path)
    {
        struct stat st {};
        if (::lstat(path.c_str(), &st) != 0) {
            return {};
        }
        return {st.st_ctim, st.st_size, st.st_nlink, st.st_mode, true};
    }
    bool operator==(const Mark& o) const
    {
        return ctime.tv_sec == o.ctime.tv_sec && ctime.tv_nsec == o.ctime.tv_nsec && size == o.size &&
               links == o.links && mode == o.mode && present == o.present;
    }
};

struct Scratch {
    test::TempDir dir{scratch_parent()};
    bool fresh = false; // the device was reset and INIT done at the end of the previous input
    std::filesystem::path share = dir / "share";
    std::unique_ptr<test::FuseClient> client;
    // The tree as populate() left it, and outside the share: the next input starts from the
    // same tree, rebuilt only when an entry changed (most inputs change nothing).
    static constexpr const char* kTree[] = {"", "file", "d", "d/inner", "link", "dirlink"};
    std::vector<Mark> tree;
    Mark outside;
    Mark secret;

    Scratch()
    {
        // A guest's writes and truncations stay small; SIGXFSZ would kill the fuzzer.
        std::signal(SIGXFSZ, SIG_IGN);
        const rlimit fsize{1 << 20, 1 << 20};
        ::setrlimit(RLIMIT_FSIZE, &fsize);
        dir.write("outside/secret", "secret");
        outside = Mark::of(dir / "outside");
        secret = Mark::of(dir / "outside/secret");
        populate();
        backends::FsOptions options;
        options.root = share;
        options.max_inodes = 64;
        options.max_handles = 16;
        client = std::make_unique<test::FuseClient>(options, "fuzz", 8ULL << 20, 2);
    }

    std::vector<Mark> marks() const
    {
        std::vector<Mark> now;
        for (const char* name : kTree) {
            now.push_back(Mark::of(share / name));
        }
        return now;
    }

    // The share as every input starts: rebuilt if anything in it changed.
    void reset_tree()
    {
        if (marks() != tree || std::filesystem::exists(dir / "d-moved")) {
            populate();
        }
    }

    void populate()
    {
        // The share's root stays (the server holds it); everything in it goes.
        std::error_code ec;
        std::filesystem::remove_all(dir / "d-moved", ec);
        std::filesystem::create_directories(share, ec);
        for (const auto& e : std::filesystem::directory_iterator(share, ec)) {
            std::filesystem::remove_all(e.path(), ec);
        }
        dir.write("share/file", "0123456789");
        dir.write("share/d/inner", "inner");
        std::filesystem::create_symlink("../outside/secret", share / "link", ec);
        std::filesystem::create_symlink(dir / "outside", share / "dirlink", ec);
        tree = marks();
    }

    // Nothing outside the share changed: the directory and the one file in it, as they were
    // (any change to either moves its ctime).
    void check_outside() const
    {
        if (Mark::of(dir / "outside") != outside || Mark::of(dir / "outside/secret") != secret) {
            std::fprintf(stderr, "fuzz_fs: the guest changed something outside its share\n");
            std::abort();
        }
    }
};

Scratch& scratch()
{
    static Scratch s;
    return s;
}

std::vector<std::byte> to_bytes(std::span<const uint8_t> bytes)
{
    const auto view = std::as_bytes(bytes);
    return {view.begin(), view.end()};
}

template <typename T>
void patch(std::vector<std::byte>& args, size_t at, T value)
{
    if (args.size() >= at + sizeof(T)) {
        std::memcpy(args.data() + at, &value, sizeof(T));
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    fuzz::silence_logs();
    Scratch& s = scratch();
    test::FuseClient& c = *s.client;
    if (!s.fresh) {
        c.restart();
        c.init();
    }
    s.fresh = false;
    s.reset_tree();
    std::vector<uint64_t> nodes{FUSE_ROOT_ID};
    std::vector<uint64_t> handles;
    std::vector<uint64_t> pending;
    auto learn = [&](uint32_t opcode, const test::FuseClient::Reply& reply) {
        if (reply.error != 0) {
            return;
        }
        if (opcode == FUSE_LOOKUP || opcode == FUSE_MKDIR || opcode == FUSE_MKNOD || opcode == FUSE_SYMLINK ||
            opcode == FUSE_LINK || opcode == FUSE_CREATE) {
            nodes.push_back(reply.as<fuse_entry_out>().nodeid);
        }
        if (opcode == FUSE_OPEN || opcode == FUSE_OPENDIR) {
            handles.push_back(reply.as<fuse_open_out>().fh);
        } else if (opcode == FUSE_CREATE && reply.payload.size() >= sizeof(fuse_entry_out) + 8) {
            uint64_t fh = 0;
            std::memcpy(&fh, reply.payload.data() + sizeof(fuse_entry_out), 8);
            handles.push_back(fh);
        }
    };
    auto wait_all = [&] {
        // One deadline for all: a request parked (SETLKW) or dropped by a reset never answers,
        // and the next restart clears it.
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(5);
        while (!pending.empty() && std::chrono::steady_clock::now() < deadline) {
            std::erase_if(pending, [&](uint64_t ticket) {
                if (!c.answered(ticket)) {
                    return false;
                }
                static_cast<void>(c.wait(ticket, kWait));
                return true;
            });
            if (!pending.empty()) {
                std::this_thread::sleep_for(std::chrono::microseconds(200));
            }
        }
        pending.clear();
    };
    bool transport_touched = false; // a register or guest RAM write: only a reset is sure to recover
    fuzz::Input in(data, size);
    for (int steps = 0; !in.empty() && steps < 64; ++steps) {
        try {
            switch (in.take<uint8_t>() % 6) {
            case 0: {
                const uint8_t op = in.take<uint8_t>();
                const uint32_t opcode = op < 64 ? kOpcodes[op % kOpcodeCount] : in.take<uint32_t>();
                const uint8_t node_pick = in.take<uint8_t>();
                const uint8_t fh_pick = in.take<uint8_t>();
                const auto args_bytes = in.bytes(size_t{in.take<uint8_t>()} * 2);
                const uint16_t out = in.take<uint16_t>() % 8192;
                const uint8_t shape_bits = in.take<uint8_t>();
                std::vector<std::byte> args = to_bytes(args_bytes);
                const uint64_t nodeid = node_pick < 0x80 ? nodes[node_pick % nodes.size()] : node_pick;
                if (fh_pick < 0x80 && !handles.empty()) {
                    patch(args, 0, handles[fh_pick % handles.size()]); // fh leads the args of most file ops
                }
                if (opcode == FUSE_FALLOCATE) { // keep what it allocates small
                    patch(args, 8, static_cast<uint64_t>(fh_pick) << 12);
                    patch(args, 16, static_cast<uint64_t>(out) << 4);
                }
                test::FuseShape shape{static_cast<size_t>(shape_bits & 3) * 5, static_cast<size_t>((shape_bits >> 2) & 3) * 7,
                                      (shape_bits & 0x10) != 0};
                const unsigned queue = (shape_bits & 0x20) != 0 ? 0 : 1;
                const auto ticket = c.submit(opcode, nodeid, args, out, queue, shape);
                if ((shape_bits & 0x40) != 0) {
                    pending.push_back(ticket);
                } else {
                    learn(opcode, c.wait(ticket, kWait));
                }
                break;
            }
            case 1: {
                const auto bytes = in.bytes(in.take<uint8_t>());
                const uint16_t out = in.take<uint16_t>() % 4096;
                c.wait(c.submit_raw(to_bytes(bytes), out), kWait);
                break;
            }
            case 2:
                wait_all();
                break;
            case 3: {
                const auto offset = in.take<uint16_t>();
                transport_touched = true;
                c.driver.set(offset & 0x1ff, in.take<uint32_t>());
                c.driver.run_io();
                break;
            }
            case 4: {
                const uint32_t addr = in.take<uint32_t>() % (8U << 20);
                const auto bytes = in.bytes(in.take<uint8_t>());
                transport_touched = true;
                (void)c.driver.memory.try_write(memory::GuestAddress{addr}, std::as_bytes(bytes));
                break;
            }
            case 5: {
                std::error_code ec;
                if ((in.take<uint8_t>() & 1) != 0) {
                    std::filesystem::rename(s.share / "d", s.dir / "d-moved", ec);
                    std::filesystem::create_directory_symlink(s.dir / "outside", s.share / "d", ec);
                } else {
                    std::filesystem::remove(s.share / "d", ec);
                    std::filesystem::rename(s.dir / "d-moved", s.share / "d", ec);
                }
                break;
            }
            }
        } catch (const test::SupportError&) {
            // The program asked the client for something it cannot do (out of descriptors, a
            // reply that never came after a hostile register write): this input is over.
            break;
        }
        // A device the program stopped (a reset, NEEDS_RESET, a queue torn down) answers
        // nothing more: waiting for each request would only measure the timeout.
        if ((c.driver.reg(virtio::mmio::kStatus) & virtio::mmio::kStatusDriverOk) == 0 ||
            c.driver.transport.needs_reset()) {
            break;
        }
    }
    wait_all();
    s.check_outside();
    // Only requests, every one answered, the device running: DESTROY lets the server forget
    // everything and INIT starts the next input from where a reset would (most inputs; far
    // cheaper than a reset and bring-up).
    if (!transport_touched && c.outstanding() == 0 &&
        (c.driver.reg(virtio::mmio::kStatus) & virtio::mmio::kStatusDriverOk) != 0 && !c.driver.transport.needs_reset()) {
        try {
            if (c.call(FUSE_DESTROY, FUSE_ROOT_ID, {}, 0).error == 0) {
                c.init();
                s.fresh = true;
                return 0;
            }
        } catch (const test::SupportError&) {
            // fall through to the reset
        }
    }
    // Whatever the guest did, a reset brings the device back.
    c.restart();
    try {
        c.init();
        if (const int error = c.getattr(FUSE_ROOT_ID).error; error != 0) {
            std::fprintf(stderr, "fuzz_fs: GETATTR of the root after a reset: errno %d\n", error);
            std::abort();
        }
        s.fresh = true; // the next input starts from here
    } catch (const test::SupportError& e) {
        std::fprintf(stderr, "fuzz_fs: the device stopped answering after a reset: %s\n", e.what());
        std::abort();
    }
    return 0;
}
