// The virtio-fs server's operations on names and attributes, each with its success and its
// error paths, checked against what the host's file system holds afterwards: LOOKUP, GETATTR,
// SETATTR, MKDIR, MKNOD, SYMLINK, READLINK, LINK, UNLINK, RMDIR, RENAME, RENAME2, STATFS, ACCESS.
#include "fuse_fixture.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>

using namespace minivmm;
using namespace minivmm::test;

TEST_CASE("virtio-fs LOOKUP: host attributes with nanosecond times; ENOENT, ENOTDIR, ESTALE", "[unit][virtio-fs]")
{
    FsFixture f;
    f.dir.write("dir/file", "12345");
    const timespec times[2] = {{1000000000, 123456789}, {1100000000, 987654321}};
    REQUIRE(::utimensat(AT_FDCWD, (f.dir / "dir/file").c_str(), times, 0) == 0);
    const auto dir = f.node(kRoot, "dir");
    const auto reply = f.client.lookup(dir, "file");
    REQUIRE(reply.error == 0);
    const auto entry = reply.as<fuse_entry_out>();
    const auto st = f.host_stat("dir/file");
    CHECK(entry.nodeid > kRoot);
    CHECK(entry.attr.ino == st.st_ino);
    CHECK(entry.attr.size == 5);
    CHECK(entry.attr.mode == st.st_mode);
    CHECK(entry.attr.nlink == 1);
    CHECK(entry.attr.uid == st.st_uid);
    CHECK(entry.attr.atime == 1000000000);
    CHECK(entry.attr.atimensec == 123456789);
    CHECK(entry.attr.mtime == 1100000000);
    CHECK(entry.attr.mtimensec == 987654321);
    CHECK(entry.entry_valid == 1); // cache=auto
    CHECK(entry.attr_valid == 1);
    CHECK(f.client.lookup(dir, "missing").error == ENOENT);
    CHECK(f.client.lookup(entry.nodeid, "x").error == ENOTDIR);
    CHECK(f.client.lookup(987654321, "x").error == ESTALE);
    CHECK(f.client.lookup(0, "x").error == ESTALE);
}

TEST_CASE("virtio-fs GETATTR: the inode's attributes, even after its last name is gone", "[unit][virtio-fs]")
{
    FsFixture f;
    f.dir.write("f", "abc");
    const auto nodeid = f.node(kRoot, "f");
    CHECK(f.attr(nodeid).size == 3);
    CHECK(S_ISDIR(f.attr(kRoot).mode));
    CHECK(f.attr(kRoot).ino == f.host_stat(".").st_ino);
    std::filesystem::remove(f.dir / "f");
    CHECK(f.attr(nodeid).nlink == 0);
    CHECK(f.client.getattr(424242).error == ESTALE);
}

TEST_CASE("virtio-fs SETATTR: mode, size, times (to the nanosecond and NOW), owner", "[unit][virtio-fs]")
{
    FsFixture f;
    f.dir.write("f", "0123456789");
    const auto nodeid = f.node(kRoot, "f");
    fuse_setattr_in in{};
    SECTION("mode")
    {
        in.valid = FATTR_MODE;
        in.mode = S_IFREG | 0751;
        const auto reply = f.client.setattr(nodeid, in);
        REQUIRE(reply.error == 0);
        CHECK((reply.as<fuse_attr_out>().attr.mode & 07777) == 0751);
        CHECK((f.host_stat("f").st_mode & 07777) == 0751);
    }
    SECTION("size, by path and through an open handle")
    {
        in.valid = FATTR_SIZE;
        in.size = 4;
        REQUIRE(f.client.setattr(nodeid, in).error == 0);
        CHECK(f.dir.read("f") == "0123");
        const auto fh = f.open(nodeid, O_RDWR);
        in.valid = FATTR_SIZE | FATTR_FH;
        in.fh = fh;
        in.size = 100000;
        REQUIRE(f.client.setattr(nodeid, in).error == 0);
        CHECK(f.host_stat("f").st_size == 100000);
        in.size = uint64_t{1} << 63;
        CHECK(f.client.setattr(nodeid, in).error == EINVAL);
        CHECK(f.client.setattr(kRoot, fuse_setattr_in{FATTR_SIZE, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
                  .error == EISDIR);
    }
    SECTION("times")
    {
        in.valid = FATTR_ATIME | FATTR_MTIME;
        in.atime = 1234567890;
        in.atimensec = 111;
        in.mtime = 1234567891;
        in.mtimensec = 999999999;
        const auto attr = f.client.setattr(nodeid, in).as<fuse_attr_out>().attr;
        CHECK(attr.mtime == 1234567891);
        CHECK(attr.mtimensec == 999999999);
        const auto st = f.host_stat("f");
        CHECK(st.st_atim.tv_sec == 1234567890);
        CHECK(st.st_atim.tv_nsec == 111);
        CHECK(st.st_mtim.tv_nsec == 999999999);
        in.valid = FATTR_MTIME | FATTR_MTIME_NOW;
        REQUIRE(f.client.setattr(nodeid, in).error == 0);
        CHECK(f.host_stat("f").st_mtim.tv_sec > 1234567891);
        in.valid = FATTR_MTIME;
        in.mtimensec = 1000000000; // not a nanosecond count
        CHECK(f.client.setattr(nodeid, in).error == EINVAL);
    }
    SECTION("owner: the host's own ids always work; others as the host allows")
    {
        in.valid = FATTR_UID | FATTR_GID;
        in.uid = ::geteuid();
        in.gid = ::getegid();
        CHECK(f.client.setattr(nodeid, in).error == 0);
        in.uid = 4321;
        in.gid = 4321;
        const int error = f.client.setattr(nodeid, in).error;
        if (::geteuid() == 0) {
            CHECK(error == 0); // as root, carried out
            CHECK(f.host_stat("f").st_uid == 4321);
        } else {
            CHECK(error == EPERM);
        }
    }
    SECTION("mode of a symlink: EOPNOTSUPP; an unknown node: ESTALE")
    {
        REQUIRE(::symlink("f", (f.dir / "l").c_str()) == 0);
        in.valid = FATTR_MODE;
        in.mode = 0700;
        CHECK(f.client.setattr(f.node(kRoot, "l"), in).error == EOPNOTSUPP);
        CHECK(f.client.setattr(777777, in).error == ESTALE);
    }
}

TEST_CASE("virtio-fs MKDIR and MKNOD: directories, files, FIFOs and sockets with the mode asked; no devices",
          "[unit][virtio-fs]")
{
    FsFixture f;
    const auto dir = f.client.mkdir(kRoot, "d", 0750);
    REQUIRE(dir.error == 0);
    CHECK(S_ISDIR(dir.as<fuse_entry_out>().attr.mode));
    CHECK((f.host_stat("d").st_mode & 07777) == 0750); // not masked by a umask
    CHECK(f.client.mkdir(kRoot, "d", 0755).error == EEXIST);
    const auto d = dir.as<fuse_entry_out>().nodeid;
    CHECK(S_ISREG(f.client.mknod(d, "reg", S_IFREG | 0604).as<fuse_entry_out>().attr.mode));
    CHECK((f.host_stat("d/reg").st_mode & 07777) == 0604);
    CHECK(S_ISFIFO(f.client.mknod(d, "fifo", S_IFIFO | 0600).as<fuse_entry_out>().attr.mode));
    CHECK(S_ISFIFO(f.host_stat("d/fifo").st_mode));
    CHECK(S_ISSOCK(f.client.mknod(d, "sock", S_IFSOCK | 0600).as<fuse_entry_out>().attr.mode));
    CHECK(f.client.mknod(d, "null", S_IFCHR | 0666, makedev(1, 3)).error == EPERM);
    CHECK(f.client.mknod(d, "disk", S_IFBLK | 0666, makedev(8, 0)).error == EPERM);
    CHECK(!std::filesystem::exists(f.dir / "d/null"));
    CHECK(f.client.mknod(d, "odd", 0170000 | 0600).error == EINVAL);
    CHECK(f.client.mkdir(f.node(d, "reg"), "x", 0755).error == ENOTDIR);
}

TEST_CASE("virtio-fs SYMLINK and READLINK: the target is stored as given, never followed", "[unit][virtio-fs]")
{
    FsFixture f;
    const auto reply = f.client.symlink(kRoot, "link", "../../etc/passwd");
    REQUIRE(reply.error == 0);
    const auto link = reply.as<fuse_entry_out>();
    CHECK(S_ISLNK(link.attr.mode));
    CHECK(std::filesystem::read_symlink(f.dir / "link") == "../../etc/passwd");
    CHECK(f.client.readlink(link.nodeid).text() == "../../etc/passwd");
    CHECK(f.client.symlink(kRoot, "link", "x").error == EEXIST);
    CHECK(f.client.symlink(kRoot, "long", std::string(4096, 'x')).error == ENAMETOOLONG);
    CHECK(f.client.symlink(kRoot, "empty", "").error == ENOENT);
    f.dir.write("file", "");
    CHECK(f.client.readlink(f.node(kRoot, "file")).error == EINVAL);
}

TEST_CASE("virtio-fs LINK: a hard link is the same inode, two names", "[unit][virtio-fs]")
{
    FsFixture f;
    f.dir.write("a", "shared");
    const auto a = f.node(kRoot, "a");
    const auto reply = f.client.link(a, kRoot, "b");
    REQUIRE(reply.error == 0);
    CHECK(reply.as<fuse_entry_out>().nodeid == a);
    CHECK(reply.as<fuse_entry_out>().attr.nlink == 2);
    CHECK(f.host_stat("b").st_ino == f.host_stat("a").st_ino);
    CHECK(f.node(kRoot, "b") == a);
    // A symlink links as itself.
    REQUIRE(::symlink("a", (f.dir / "s").c_str()) == 0);
    REQUIRE(f.client.link(f.node(kRoot, "s"), kRoot, "s2").error == 0);
    CHECK(std::filesystem::is_symlink(f.dir / "s2"));
    CHECK(f.client.link(a, kRoot, "b").error == EEXIST);
    CHECK(f.client.link(f.node(kRoot, "b"), 99999, "c").error == ESTALE);
    const auto d = f.client.mkdir(kRoot, "d", 0755).as<fuse_entry_out>().nodeid;
    CHECK(f.client.link(d, kRoot, "d2").error == EPERM);
}

TEST_CASE("virtio-fs UNLINK and RMDIR", "[unit][virtio-fs]")
{
    FsFixture f;
    f.dir.write("d/f", "x");
    f.dir.write("e/.keep", "");
    std::filesystem::remove(f.dir / "e/.keep");
    CHECK(f.client.unlink(kRoot, "missing").error == ENOENT);
    CHECK(f.client.rmdir(kRoot, "d").error == ENOTEMPTY);
    CHECK(f.client.unlink(kRoot, "d").error == EISDIR);
    const auto d = f.node(kRoot, "d");
    CHECK(f.client.rmdir(d, "f").error == ENOTDIR);
    CHECK(f.client.unlink(d, "f").error == 0);
    CHECK(!std::filesystem::exists(f.dir / "d/f"));
    CHECK(f.client.rmdir(kRoot, "d").error == 0);
    CHECK(f.client.rmdir(kRoot, "e").error == 0);
    CHECK(std::filesystem::is_empty(f.dir.path()));
}

TEST_CASE("virtio-fs RENAME and RENAME2: across directories, NOREPLACE, EXCHANGE; no WHITEOUT", "[unit][virtio-fs]")
{
    FsFixture f;
    f.dir.write("a", "A");
    f.dir.write("b", "B");
    f.dir.write("sub/.keep", "");
    const auto sub = f.node(kRoot, "sub");
    CHECK(f.client.rename(kRoot, "a", sub, "a2").error == 0);
    CHECK(f.dir.read("sub/a2") == "A");
    CHECK(f.client.rename(sub, "a2", kRoot, "b", RENAME_NOREPLACE).error == EEXIST);
    CHECK(f.client.rename(sub, "a2", kRoot, "b", RENAME_EXCHANGE).error == 0);
    CHECK(f.dir.read("b") == "A");
    CHECK(f.dir.read("sub/a2") == "B");
    CHECK(f.client.rename(kRoot, "b", kRoot, "c", RENAME_WHITEOUT).error == EINVAL);
    CHECK(f.client.rename(kRoot, "b", kRoot, "c", RENAME_EXCHANGE | RENAME_NOREPLACE).error == EINVAL);
    CHECK(f.client.rename(kRoot, "missing", kRoot, "c").error == ENOENT);
    CHECK(f.client.rename(kRoot, "b", 123456, "c").error == ESTALE);
    CHECK(f.client.rename(kRoot, "b", kRoot, "b-renamed").error == 0);
    CHECK(f.dir.read("b-renamed") == "A");
}

TEST_CASE("virtio-fs STATFS and ACCESS", "[unit][virtio-fs]")
{
    FsFixture f;
    const auto st = f.client.statfs(kRoot).as<fuse_statfs_out>().st;
    CHECK(st.bsize > 0);
    CHECK(st.namelen == 255);
    f.dir.write("private", "x");
    REQUIRE(::chmod((f.dir / "private").c_str(), 0640) == 0);
    const uint32_t owner = f.host_stat("private").st_uid;
    const uint32_t group = f.host_stat("private").st_gid;
    const auto node = f.node(kRoot, "private");
    CHECK(f.client.access(node, R_OK, owner + 1000, group).error == 0); // the group may read
    CHECK(f.client.access(node, W_OK, owner + 1000, group).error == EACCES); // but not write
    CHECK(f.client.access(node, R_OK | W_OK, owner, group).error == 0);
    CHECK(f.client.access(node, R_OK, owner + 1000, group + 1000).error == EACCES);
    CHECK(f.client.access(node, R_OK | W_OK, 0, 0).error == 0);  // root reads and writes
    CHECK(f.client.access(node, X_OK, 0, 0).error == EACCES);    // but runs only what some x bit allows
    CHECK(f.client.access(node, F_OK, 5555, 5555).error == 0);
    CHECK(f.client.access(31337, F_OK).error == ESTALE);
}
