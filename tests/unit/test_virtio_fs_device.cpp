// virtio-fs (virtio 1.2 section 5.11) behind the virtio-mmio transport: the config space, INIT
// negotiation, request layout, malformed requests and chains, requests in flight at once,
// reset and DESTROY.
#include "fuse_fixture.hpp"

#include "arch/x86_64/guest_ram.hpp"
#include "devices/virtio/mmio_registers.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>

#include <array>
#include <string>

using namespace minivmm;
using namespace minivmm::test;
using namespace minivmm::virtio::mmio;

TEST_CASE("virtio-fs: device 26 with its tag and one request queue in the config space", "[unit][virtio-fs]")
{
    FsFixture f({}, false);
    CHECK(f.client.driver.reg(kDeviceId) == 26);
    std::array<uint8_t, 40> config{};
    f.client.driver.transport.read(kConfig, config);
    CHECK(std::string(reinterpret_cast<const char*>(config.data())) == "test");
    CHECK(config[4] == 0);
    CHECK(config[36] == 1); // num_request_queues, little-endian
    CHECK((f.client.driver.device_features() & 0xffffffULL) == 0); // no device feature bits (5.11.3)
    // A 36-byte tag fills the field with no NUL; a longer one is refused.
    TempDir dir;
    backends::FsOptions options;
    options.root = dir.path();
    MmioDriver full([&](memory::GuestMemory& memory) {
        return std::make_unique<virtio::VirtioFs>(memory, std::string(36, 't'), options);
    });
    full.transport.read(kConfig, config);
    CHECK(std::string(reinterpret_cast<const char*>(config.data()), 36) == std::string(36, 't'));
    CHECK_THROWS_AS(virtio::VirtioFs(full.memory, std::string(37, 't'), options), ConfigError);
    CHECK_THROWS_AS(virtio::VirtioFs(full.memory, "", options), ConfigError);
}

TEST_CASE("virtio-fs: a share that is not a directory is a configuration error", "[unit][virtio-fs]")
{
    TempDir dir;
    dir.write("file", "x");
    backends::FsOptions options;
    options.root = dir / "file";
    auto memory = arch::create_guest_ram(1 << 20);
    CHECK_THROWS_AS(virtio::VirtioFs(memory, "t", options), ConfigError);
    options.root = dir / "missing";
    CHECK_THROWS_AS(virtio::VirtioFs(memory, "t", options), ConfigError);
}

TEST_CASE("virtio-fs: INIT agrees on 7.38 or the guest's minor, 1 MiB writes and only the flags served",
          "[unit][virtio-fs]")
{
    FsFixture f({}, false);
    const auto reply = f.client.init();
    REQUIRE(reply.payload.size() == sizeof(fuse_init_out));
    const auto out = reply.as<fuse_init_out>();
    CHECK(out.major == 7);
    CHECK(out.minor == 38);
    CHECK(out.max_write == 1024 * 1024);
    CHECK(out.max_pages == 256);
    CHECK(out.time_gran == 1);
    CHECK(out.max_readahead == 128 * 1024); // never more than the guest's own
    const uint64_t flags = out.flags | (uint64_t{out.flags2} << 32);
    CHECK((flags & FUSE_DO_READDIRPLUS) != 0);
    CHECK((flags & FUSE_POSIX_LOCKS) != 0);
    CHECK((flags & FUSE_AUTO_INVAL_DATA) != 0); // cache=auto
    // Never promised: the server does not do these.
    for (const uint64_t no : {uint64_t{FUSE_WRITEBACK_CACHE}, uint64_t{FUSE_EXPORT_SUPPORT}, uint64_t{FUSE_DONT_MASK},
                              uint64_t{FUSE_POSIX_ACL}, uint64_t{FUSE_HANDLE_KILLPRIV_V2}, uint64_t{FUSE_SECURITY_CTX}}) {
        CHECK((flags & no) == 0);
    }
    // An older driver: its minor; one older than virtio-fs ever was: EPROTO.
    FsFixture g({}, false);
    CHECK(g.client.init(31).as<fuse_init_out>().minor == 31);
    FsFixture h({}, false);
    fuse_init_in old{7, 26, 4096, FUSE_ASYNC_READ, 0, {}};
    CHECK(h.client.call(FUSE_INIT, 0, FuseArgs().add(old).bytes(), sizeof(fuse_init_out)).error == EPROTO);
    // A newer major: the server says 7 and waits for the driver to ask again.
    fuse_init_in newer{8, 0, 4096, 0, 0, {}};
    const auto again = h.client.call(FUSE_INIT, 0, FuseArgs().add(newer).bytes(), sizeof(fuse_init_out));
    CHECK(again.error == 0);
    CHECK(again.payload.size() == 8);
    CHECK(again.as<fuse_init_out>().major == 7);
}

TEST_CASE("virtio-fs: every request before INIT answers EIO; unknown opcodes ENOSYS", "[unit][virtio-fs]")
{
    FsFixture f({}, false);
    CHECK(f.client.getattr(kRoot).error == EIO);
    f.client.init();
    CHECK(f.client.getattr(kRoot).error == 0);
    for (const uint32_t opcode : {uint32_t{FUSE_IOCTL}, uint32_t{FUSE_BMAP}, uint32_t{FUSE_POLL},
                                  uint32_t{FUSE_SETUPMAPPING}, uint32_t{FUSE_TMPFILE}, 7U, 999U, 0xffffffffU}) {
        const auto reply = f.client.call(opcode, kRoot, std::vector<std::byte>(64), 64);
        INFO("opcode " << opcode);
        CHECK(reply.error == ENOSYS);
        CHECK(reply.header_len == sizeof(fuse_out_header));
    }
}

TEST_CASE("virtio-fs: replies carry the request's unique id and their exact length", "[unit][virtio-fs]")
{
    FsFixture f;
    const auto ticket = f.client.submit(FUSE_GETATTR, kRoot, FuseArgs().add(fuse_getattr_in{}).bytes(),
                                        sizeof(fuse_attr_out));
    const uint64_t unique = f.client.unique_of(ticket);
    const auto reply = f.client.wait(ticket);
    CHECK(reply.unique == unique);
    CHECK(reply.header_len == sizeof(fuse_out_header) + sizeof(fuse_attr_out));
    CHECK(reply.used_len == reply.header_len);
    CHECK(S_ISDIR(reply.as<fuse_attr_out>().attr.mode));
}

TEST_CASE("virtio-fs: requests cut into odd pieces or in indirect tables read the same", "[unit][virtio-fs]")
{
    FsFixture f;
    f.dir.write("some file.txt", std::string(5000, 'q') + "end");
    for (const FuseClient::Shape shape : {FuseClient::Shape{3, 4, false}, FuseClient::Shape{7, 5, false},
                                          FuseClient::Shape{0, 0, true}, FuseClient::Shape{13, 3, true}}) {
        INFO("pieces " << shape.in_piece << "/" << shape.out_piece << (shape.indirect ? " indirect" : ""));
        const auto entry = f.client.call(FUSE_LOOKUP, kRoot, FuseArgs().name("some file.txt").bytes(),
                                         sizeof(fuse_entry_out), shape);
        REQUIRE(entry.error == 0);
        const auto nodeid = entry.as<fuse_entry_out>().nodeid;
        const auto opened = f.client.call(FUSE_OPEN, nodeid, FuseArgs().add(fuse_open_in{O_RDONLY, 0}).bytes(),
                                          sizeof(fuse_open_out), shape);
        REQUIRE(opened.error == 0);
        fuse_read_in in{};
        in.fh = opened.as<fuse_open_out>().fh;
        in.offset = 4990;
        in.size = 100;
        const auto data = f.client.call(FUSE_READ, 0, FuseArgs().add(in).bytes(), 100, shape);
        REQUIRE(data.error == 0);
        CHECK(data.text() == "qqqqqqqqqqend");
        CHECK(f.client.release(in.fh).error == 0);
    }
}

TEST_CASE("virtio-fs: malformed requests get an error, or nothing when there is no room, and the device carries on",
          "[unit][virtio-fs]")
{
    FsFixture f;
    fuse_in_header header{};
    header.opcode = FUSE_GETATTR;
    header.unique = 77;
    header.nodeid = kRoot;
    auto raw = [&](uint32_t len, size_t bytes, uint32_t out_size) {
        header.len = len;
        std::vector<std::byte> in(bytes);
        std::memcpy(in.data(), &header, std::min(bytes, sizeof(header)));
        return f.client.wait(f.client.submit_raw(in, out_size));
    };
    SECTION("shorter than a header: no reply, used length 0")
    {
        const auto reply = raw(40, 39, 200);
        CHECK(reply.used_len == 0);
    }
    SECTION("a length past the end of the buffers")
    {
        const auto reply = raw(4096, 56, 200);
        CHECK(reply.error == EINVAL);
        CHECK(reply.unique == 77);
    }
    SECTION("a length shorter than the header")
    {
        CHECK(raw(12, 56, 200).error == EINVAL);
    }
    SECTION("arguments shorter than the opcode's struct")
    {
        CHECK(raw(48, 48, 200).error == EINVAL);
    }
    SECTION("extensions longer than the request")
    {
        header.total_extlen = 100;
        CHECK(raw(56, 56, 200).error == EINVAL);
    }
    SECTION("no room for the reply's payload: EIO in the header alone")
    {
        const auto reply = raw(56, 56, 20);
        CHECK(reply.error == EIO);
        CHECK(reply.used_len == 16);
    }
    SECTION("no writable buffer at all: nothing written")
    {
        CHECK(raw(56, 56, 0).used_len == 0);
    }
    SECTION("WRITE whose size is past the data sent, or over max_write")
    {
        f.dir.write("f", "");
        const auto fh = f.open(f.node(kRoot, "f"), O_RDWR);
        fuse_write_in in{};
        in.fh = fh;
        in.size = 100;
        CHECK(f.client.call(FUSE_WRITE, 0, FuseArgs().add(in).raw(std::vector<std::byte>(50)).bytes(), 8).error ==
              EINVAL);
        in.size = 2 * 1024 * 1024;
        CHECK(f.client.call(FUSE_WRITE, 0, FuseArgs().add(in).raw(std::vector<std::byte>(50)).bytes(), 8).error ==
              EINVAL);
        CHECK(f.dir.read("f").empty());
    }
    // Whatever came before, the device still answers.
    header.total_extlen = 0;
    CHECK(f.client.getattr(kRoot).error == 0);
    CHECK(f.client.driver.transport.needs_reset() == false);
}

TEST_CASE("virtio-fs: a broken chain is a protocol error: DEVICE_NEEDS_RESET, and a reset brings it back",
          "[unit][virtio-fs]")
{
    FsFixture f;
    auto& d = f.client.driver;
    // A descriptor whose next points past the queue.
    d.desc(1, 100, 0x300000, 64, virtio::kVirtqDescFNext, 5000);
    d.offer(1, 100);
    d.kick(1);
    CHECK(d.transport.needs_reset());
    // The driver resets and starts over: INIT is needed again.
    d.set(kStatus, 0);
    FuseClient again(f.options({}));
    again.init();
    CHECK(again.getattr(kRoot).error == 0);
}

TEST_CASE("virtio-fs: many requests in flight at once all complete", "[unit][virtio-fs]")
{
    FsFixture f;
    std::string content;
    for (int i = 0; i < 64 * 1024; ++i) {
        content.push_back(static_cast<char>('a' + i % 26));
    }
    f.dir.write("data", content);
    const auto fh = f.open(f.node(kRoot, "data"), O_RDONLY);
    std::vector<std::pair<uint64_t, uint32_t>> tickets;
    for (uint32_t i = 0; i < 30; ++i) {
        fuse_read_in in{};
        in.fh = fh;
        in.offset = i * 1000;
        in.size = 1000;
        tickets.emplace_back(f.client.submit(FUSE_READ, 0, FuseArgs().add(in).bytes(), 1000), i);
    }
    for (const auto& [ticket, i] : tickets) {
        const auto reply = f.client.wait(ticket);
        REQUIRE(reply.error == 0);
        CHECK(reply.text() == content.substr(i * 1000, 1000));
    }
    CHECK(f.client.device->requests_in_flight() == 0);
}

TEST_CASE("virtio-fs: DESTROY lets everything go; the next request must be INIT", "[unit][virtio-fs]")
{
    FsFixture f;
    f.dir.write("a", "x");
    const auto nodeid = f.node(kRoot, "a");
    const auto fh = f.open(nodeid, O_RDONLY);
    CHECK(f.client.device->server().fs().inode_count() == 2);
    CHECK(f.client.call(FUSE_DESTROY, 0, {}, 0).error == 0);
    CHECK(f.client.device->server().fs().inode_count() == 1);
    CHECK(f.client.device->server().fs().handle_count() == 0);
    CHECK(f.client.getattr(kRoot).error == EIO);
    f.client.init();
    CHECK(f.client.getattr(nodeid).error == ESTALE);
    CHECK(f.client.read(fh, 0, 10).error == EBADF);
}

TEST_CASE("virtio-fs: FORGET on the hiprio queue drops the inode once every lookup is forgotten",
          "[unit][virtio-fs]")
{
    FsFixture f;
    f.dir.write("a", "x");
    const auto nodeid = f.node(kRoot, "a");
    CHECK(f.node(kRoot, "a") == nodeid); // the same inode, two references
    f.client.forget(nodeid, 1);
    CHECK(f.client.getattr(nodeid).error == 0);
    f.client.forget(nodeid, 1);
    CHECK(f.client.getattr(nodeid).error == ESTALE);
    CHECK(f.client.device->server().fs().inode_count() == 1);
    // BATCH_FORGET: more entries claimed than sent, unknown ids, counts beyond what is held.
    const auto b = f.node(kRoot, "a");
    fuse_batch_forget_in batch{50, 0};
    const auto ticket = f.client.submit(
        FUSE_BATCH_FORGET, 0,
        FuseArgs().add(batch).add(fuse_forget_one{b, 1000}).add(fuse_forget_one{12345, 1}).add(fuse_forget_one{kRoot, 9})
            .bytes(),
        0, virtio::VirtioFs::kHiprioQueue);
    CHECK(f.client.wait(ticket).used_len == 0);
    CHECK(f.client.getattr(b).error == ESTALE);
    CHECK(f.client.getattr(kRoot).error == 0); // the root is never forgotten
}

TEST_CASE("virtio-fs: a device reset drops a request waiting for a lock without touching its buffers",
          "[unit][virtio-fs]")
{
    FsFixture f;
    f.dir.write("locked", "x");
    const auto nodeid = f.node(kRoot, "locked");
    const auto fh = f.open(nodeid, O_RDWR);
    const fuse_file_lock whole{0, INT64_MAX, F_WRLCK, 1};
    REQUIRE(f.client.wait(f.client.submit_setlk(nodeid, fh, 1, whole, false)).error == 0);
    const auto waiting = f.client.submit_setlk(nodeid, fh, 2, whole, true);
    CHECK(eventually([&] { return f.client.device->server().parked_locks() == 1; }));
    CHECK_FALSE(f.client.answered(waiting));
    f.client.driver.set(kStatus, 0); // the driver resets the device
    CHECK(f.client.device->server().parked_locks() == 0);
    CHECK(f.client.device->requests_in_flight() == 0);
    CHECK(f.client.device->server().fs().fds_held() == 0);
}
