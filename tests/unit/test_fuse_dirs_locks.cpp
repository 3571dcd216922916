// The virtio-fs server's directories (OPENDIR, READDIR, READDIRPLUS, RELEASEDIR), extended
// attributes (GETXATTR, LISTXATTR, SETXATTR, REMOVEXATTR) and locks (GETLK, SETLK, SETLKW,
// flock, INTERRUPT), with their error paths.
#include "fuse_fixture.hpp"

#include <catch2/catch.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <set>

using namespace minivmm;
using namespace minivmm::test;

namespace {

// Every name of the directory handle `fh`, READDIR(PLUS) `size` bytes at a time from offset 0.
std::vector<FuseClient::Dirent> list(FsFixture& f, uint64_t fh, uint32_t size, bool plus)
{
    std::vector<FuseClient::Dirent> all;
    uint64_t offset = 0;
    for (int calls = 0; calls < 10000; ++calls) {
        const auto reply = f.client.readdir(fh, offset, size, plus);
        REQUIRE(reply.error == 0);
        const auto batch = FuseClient::parse_dirents(reply, plus);
        if (batch.empty()) {
            return all;
        }
        offset = batch.back().off;
        all.insert(all.end(), batch.begin(), batch.end());
    }
    FAIL("READDIR never ended");
    return all;
}

} // namespace

TEST_CASE("virtio-fs READDIR lists every name once, however small the guest's buffer", "[unit][virtio-fs]")
{
    FsFixture f;
    std::set<std::string> expected{".", ".."};
    for (int i = 0; i < 300; ++i) {
        const std::string name = "file " + std::to_string(i) + (i % 7 == 0 ? " ü€" : "");
        f.dir.write(name, "");
        expected.insert(name);
    }
    f.dir.write("sub/x", "");
    expected.insert("sub");
    const auto fh = f.client.opendir(kRoot).as<fuse_open_out>().fh;
    for (const uint32_t size : {4096U, 200U, 48U}) {
        INFO("buffer " << size);
        const auto names = list(f, fh, size, false);
        std::multiset<std::string> seen;
        for (const auto& d : names) {
            seen.insert(d.name);
        }
        CHECK(seen.size() == expected.size());
        CHECK(std::set<std::string>(seen.begin(), seen.end()) == expected);
        const auto sub = std::find_if(names.begin(), names.end(), [](const auto& d) { return d.name == "sub"; });
        REQUIRE(sub != names.end());
        CHECK(sub->type == DT_DIR);
        CHECK(sub->ino == f.host_stat("sub").st_ino);
    }
    // Too small for even one entry: an empty reply, not an error.
    CHECK(f.client.readdir(fh, 0, 20).payload.empty());
    CHECK(f.client.release(fh, true).error == 0);
    CHECK(f.client.readdir(fh, 0, 4096).error == EBADF);
}

TEST_CASE("virtio-fs READDIRPLUS: each name with its inode looked up, saving the guest a LOOKUP",
          "[unit][virtio-fs]")
{
    FsFixture f;
    f.dir.write("a", "aaa");
    f.dir.write("b/c", "");
    const auto fh = f.client.opendir(kRoot).as<fuse_open_out>().fh;
    const auto names = list(f, fh, 4096, true);
    CHECK(names.size() == 4);
    for (const auto& d : names) {
        INFO(d.name);
        if (d.name == "." || d.name == "..") {
            CHECK(d.entry.nodeid == 0); // no lookup for these: the guest ignores the entry
            continue;
        }
        CHECK(d.entry.nodeid > kRoot);
        CHECK(d.entry.attr.ino == f.host_stat(d.name).st_ino);
        CHECK(d.ino == d.entry.attr.ino);
        // The guest holds a reference now: the same node id as a LOOKUP, and it is counted.
        CHECK(f.node(kRoot, d.name) == d.entry.nodeid);
    }
    const auto a = std::find_if(names.begin(), names.end(), [](const auto& d) { return d.name == "a"; });
    CHECK(a->entry.attr.size == 3);
    CHECK(f.client.device->server().fs().inode_count() == 3);
    // Each name was looked up twice (READDIRPLUS, LOOKUP): two FORGETs let it go.
    f.client.forget(a->entry.nodeid, 1);
    CHECK(f.client.getattr(a->entry.nodeid).error == 0);
    f.client.forget(a->entry.nodeid, 1);
    CHECK(f.client.getattr(a->entry.nodeid).error == ESTALE);
}

TEST_CASE("virtio-fs OPENDIR and READDIR errors", "[unit][virtio-fs]")
{
    FsFixture f;
    f.dir.write("file", "");
    const auto file = f.node(kRoot, "file");
    CHECK(f.client.opendir(file).error == ENOTDIR);
    CHECK(f.client.opendir(66666).error == ESTALE);
    const auto fh = f.open(file, O_RDONLY);
    CHECK(f.client.readdir(fh, 0, 4096).error == EBADF); // a file handle is not a directory's
    const auto dh = f.client.opendir(kRoot).as<fuse_open_out>().fh;
    CHECK(f.client.read(dh, 0, 10).error == EBADF);
    CHECK(f.client.readdir(dh, ~0ULL, 4096).error == EINVAL);
    CHECK(f.client.release(dh, false).error == EBADF);
    CHECK(f.client.release(dh, true).error == 0);
}

TEST_CASE("virtio-fs extended attributes: set, get (size first), list, remove, and their errors", "[unit][virtio-fs]")
{
    FsFixture f;
    f.dir.write("f", "");
    if (::setxattr((f.dir / "f").c_str(), "user.probe", "1", 1, 0) != 0) {
        WARN("SKIPPED: the temporary directory's file system has no user xattrs (" << std::strerror(errno) << ")");
        return;
    }
    REQUIRE(::removexattr((f.dir / "f").c_str(), "user.probe") == 0);
    const auto node = f.node(kRoot, "f");
    CHECK(f.client.setxattr(node, "user.colour", "blue").error == 0);
    char value[16] = {};
    CHECK(::getxattr((f.dir / "f").c_str(), "user.colour", value, sizeof(value)) == 4);
    CHECK(std::string(value) == "blue");
    CHECK(f.client.getxattr(node, "user.colour", 0).as<fuse_getxattr_out>().size == 4);
    CHECK(f.client.getxattr(node, "user.colour", 64).text() == "blue");
    CHECK(f.client.getxattr(node, "user.colour", 2).error == ERANGE);
    CHECK(f.client.getxattr(node, "user.none", 64).error == ENODATA);
    CHECK(f.client.setxattr(node, "user.colour", "red", XATTR_CREATE).error == EEXIST);
    CHECK(f.client.setxattr(node, "user.shape", "round", XATTR_REPLACE).error == ENODATA);
    CHECK(f.client.setxattr(node, "user.x", "v", 0x80).error == EINVAL);
    CHECK(f.client.setxattr(node, "user.shape", "round").error == 0);
    const auto needed = f.client.listxattr(node, 0).as<fuse_getxattr_out>().size;
    CHECK(needed == sizeof("user.colour") + sizeof("user.shape"));
    const auto names = f.client.listxattr(node, 256).text();
    CHECK(names.find("user.colour") != std::string::npos);
    CHECK(names.find("user.shape") != std::string::npos);
    CHECK(f.client.listxattr(node, 3).error == ERANGE);
    CHECK(f.client.removexattr(node, "user.colour").error == 0);
    CHECK(f.client.removexattr(node, "user.colour").error == ENODATA);
    CHECK(f.client.getxattr(node, std::string(300, 'n'), 64).error == ERANGE);
    // A value over 64 KiB is refused before anything is read.
    fuse_setxattr_in big{70000, 0, 0, 0};
    CHECK(f.client.call(FUSE_SETXATTR, node, FuseArgs().add(big).name("user.big").bytes(), 0).error == E2BIG);
    // Symlinks carry none.
    REQUIRE(::symlink("f", (f.dir / "l").c_str()) == 0);
    const auto link = f.node(kRoot, "l");
    CHECK(f.client.getxattr(link, "user.shape", 64).error == ENODATA);
    CHECK(f.client.setxattr(link, "user.shape", "x").error == EPERM);
    CHECK(f.client.listxattr(link, 0).as<fuse_getxattr_out>().size == 0);
}

TEST_CASE("virtio-fs POSIX locks: owners conflict as guest processes do; SETLKW waits without a worker",
          "[unit][virtio-fs]")
{
    FsFixture f;
    f.dir.write("db", "0123456789");
    const auto node = f.node(kRoot, "db");
    const auto fh1 = f.open(node, O_RDWR);
    const auto fh2 = f.open(node, O_RDWR);
    const fuse_file_lock first_half{0, 4, F_WRLCK, 10};
    const fuse_file_lock whole{0, INT64_MAX, F_WRLCK, 20};
    REQUIRE(f.client.wait(f.client.submit_setlk(node, fh1, 1, first_half, false)).error == 0);
    // Owner 2 sees owner 1's lock and cannot take it; owner 1 may change its own.
    const auto seen = f.client.getlk(node, fh2, 2, whole).as<fuse_lk_out>().lk;
    CHECK(seen.type == F_WRLCK);
    CHECK(seen.start == 0);
    CHECK(seen.end == 4);
    CHECK(f.client.getlk(node, fh1, 1, whole).as<fuse_lk_out>().lk.type == F_UNLCK);
    CHECK(f.client.wait(f.client.submit_setlk(node, fh2, 2, whole, false)).error == EAGAIN);
    // A lock on the second half does not conflict.
    CHECK(f.client.wait(f.client.submit_setlk(node, fh2, 2, fuse_file_lock{5, 9, F_RDLCK, 20}, false)).error == 0);
    // A host process sees the guest's lock too.
    {
        const int fd = ::open((f.dir / "db").c_str(), O_RDWR);
        struct flock fl {};
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        fl.l_len = 2;
        CHECK(::fcntl(fd, F_OFD_GETLK, &fl) == 0);
        CHECK(fl.l_type == F_WRLCK);
        ::close(fd);
    }
    // SETLKW waits (parked, no worker held) until owner 1 lets go.
    const auto waiting = f.client.submit_setlk(node, fh2, 2, whole, true);
    REQUIRE(eventually([&] { return f.client.device->server().parked_locks() == 1; }));
    // Meanwhile the workers still serve other requests.
    CHECK(f.client.getattr(node).error == 0);
    CHECK_FALSE(f.client.answered(waiting));
    REQUIRE(f.client.wait(f.client.submit_setlk(node, fh1, 1, fuse_file_lock{0, INT64_MAX, F_UNLCK, 10}, false))
                .error == 0);
    CHECK(f.client.wait(waiting).error == 0);
    CHECK(f.client.getlk(node, fh1, 1, whole).as<fuse_lk_out>().lk.type == F_WRLCK);
    // Bad ranges and types.
    CHECK(f.client.wait(f.client.submit_setlk(node, fh1, 1, fuse_file_lock{9, 2, F_RDLCK, 0}, false)).error ==
          EINVAL);
    CHECK(f.client.wait(f.client.submit_setlk(node, fh1, 1, fuse_file_lock{0, 1, 77, 0}, false)).error == EINVAL);
    CHECK(f.client.getlk(kRoot, fh1, 1, whole).error == EINVAL); // directories take none
}

TEST_CASE("virtio-fs SETLKW: a lock a host process holds is retried until it goes; INTERRUPT ends the wait",
          "[unit][virtio-fs]")
{
    FsFixture f;
    f.dir.write("shared", "x");
    const auto node = f.node(kRoot, "shared");
    const auto fh = f.open(node, O_RDWR);
    const int host_fd = ::open((f.dir / "shared").c_str(), O_RDWR);
    REQUIRE(host_fd >= 0);
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    REQUIRE(::fcntl(host_fd, F_OFD_SETLK, &fl) == 0);
    const fuse_file_lock whole{0, INT64_MAX, F_RDLCK, 7};
    const auto waiting = f.client.submit_setlk(node, fh, 3, whole, true);
    REQUIRE(eventually([&] { return f.client.device->server().parked_locks() == 1; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    CHECK_FALSE(f.client.answered(waiting));
    ::close(host_fd); // the host lets go: the periodic retry gets it
    CHECK(f.client.wait(waiting, std::chrono::seconds(5)).error == 0);

    // Another wait, interrupted by the guest.
    const auto other = f.open(node, O_RDWR);
    const auto blocked = f.client.submit_setlk(node, other, 4, fuse_file_lock{0, INT64_MAX, F_WRLCK, 8}, true);
    REQUIRE(eventually([&] { return f.client.device->server().parked_locks() == 1; }));
    f.client.interrupt(f.client.unique_of(blocked));
    CHECK(f.client.wait(blocked).error == EINTR);
    CHECK(f.client.device->server().parked_locks() == 0);
}

TEST_CASE("virtio-fs flock(): per open file, exclusive against other opens; released with the file",
          "[unit][virtio-fs]")
{
    FsFixture f;
    f.dir.write("lockfile", "");
    const auto node = f.node(kRoot, "lockfile");
    const auto a = f.open(node, O_RDONLY);
    const auto b = f.open(node, O_RDONLY);
    const fuse_file_lock ex{0, 0, F_WRLCK, 1};
    REQUIRE(f.client.wait(f.client.submit_setlk(node, a, 1, ex, false, true)).error == 0);
    CHECK(f.client.wait(f.client.submit_setlk(node, b, 2, ex, false, true)).error == EAGAIN);
    const auto waiting = f.client.submit_setlk(node, b, 2, ex, true, true);
    REQUIRE(eventually([&] { return f.client.device->server().parked_locks() == 1; }));
    fuse_release_in rel{};
    rel.fh = a;
    rel.release_flags = FUSE_RELEASE_FLOCK_UNLOCK;
    CHECK(f.client.call(FUSE_RELEASE, 0, FuseArgs().add(rel).bytes(), 0).error == 0);
    CHECK(f.client.wait(waiting).error == 0);
    CHECK(f.client.wait(f.client.submit_setlk(node, 999, 2, ex, false, true)).error == EBADF);
}
