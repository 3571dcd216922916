// A virtio-fs share's bounds: readonly=on refuses every change, the inodes and open files a
// guest can make the host hold are limited, hostile lengths and offsets are refused, and the
// cache policies give the timeouts and open flags they promise.
#include "fuse_fixture.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

using namespace minivmm;
using namespace minivmm::test;

TEST_CASE("virtio-fs readonly=on: every change answers EROFS; reading works", "[unit][virtio-fs]")
{
    FsFixture f([](backends::FsOptions& o) { o.readonly = true; });
    f.dir.write("f", "read me");
    f.dir.write("d/x", "");
    const auto node = f.node(kRoot, "f");
    const auto d = f.node(kRoot, "d");
    const auto fh = f.open(node, O_RDONLY);
    CHECK(f.read_all(fh) == "read me");
    CHECK(f.client.open(node, O_WRONLY).error == EROFS);
    CHECK(f.client.open(node, O_RDWR).error == EROFS);
    CHECK(f.client.open(node, O_RDONLY | O_TRUNC).error == EROFS);
    CHECK(f.client.create(kRoot, "new", O_RDWR, 0644).error == EROFS);
    CHECK(f.client.mkdir(kRoot, "new", 0755).error == EROFS);
    CHECK(f.client.mknod(kRoot, "new", S_IFIFO | 0600).error == EROFS);
    CHECK(f.client.symlink(kRoot, "new", "f").error == EROFS);
    CHECK(f.client.link(node, kRoot, "new").error == EROFS);
    CHECK(f.client.unlink(kRoot, "f").error == EROFS);
    CHECK(f.client.rmdir(d, "x").error == EROFS);
    CHECK(f.client.rename(kRoot, "f", kRoot, "g").error == EROFS);
    CHECK(f.client.rename(kRoot, "f", kRoot, "g", RENAME_NOREPLACE).error == EROFS);
    fuse_setattr_in in{};
    for (const uint32_t valid : {uint32_t{FATTR_MODE}, uint32_t{FATTR_UID}, uint32_t{FATTR_SIZE},
                                 uint32_t{FATTR_MTIME}, uint32_t{FATTR_ATIME | FATTR_ATIME_NOW}}) {
        in.valid = valid;
        CHECK(f.client.setattr(node, in).error == EROFS);
    }
    CHECK(f.client.write(fh, 0, "x").error == EROFS);
    CHECK(f.client.fallocate(fh, 0, 100).error == EROFS);
    CHECK(f.client.copy_file_range(fh, 0, node, fh, 0, 1).error == EROFS);
    CHECK(f.client.setxattr(node, "user.x", "y").error == EROFS);
    CHECK(f.client.removexattr(node, "user.x").error == EROFS);
    CHECK(f.client.access(node, W_OK).error == EROFS);
    CHECK(f.client.access(node, R_OK).error == 0);
    // A write lock needs a writable fd, which a read-only share never opens.
    CHECK(f.client.wait(f.client.submit_setlk(node, fh, 1, fuse_file_lock{0, 10, F_WRLCK, 1}, false)).error ==
          EBADF);
    CHECK(f.client.wait(f.client.submit_setlk(node, fh, 1, fuse_file_lock{0, 10, F_RDLCK, 1}, false)).error == 0);
    CHECK(f.dir.read("f") == "read me");
    CHECK(!std::filesystem::exists(f.dir / "new"));
    CHECK(std::filesystem::exists(f.dir / "d/x"));
}

TEST_CASE("virtio-fs: the inodes a guest holds are limited (ENFILE), and forgetting frees them",
          "[unit][virtio-fs]")
{
    FsFixture f([](backends::FsOptions& o) { o.max_inodes = 4; });
    for (const char* name : {"a", "b", "c", "d"}) {
        f.dir.write(name, "");
    }
    const auto a = f.node(kRoot, "a");
    f.node(kRoot, "b");
    f.node(kRoot, "c");
    CHECK(f.client.lookup(kRoot, "d").error == ENFILE); // the root is one of the four
    CHECK(f.client.lookup(kRoot, "a").error == 0);      // one already held: no new inode
    CHECK(f.client.create(kRoot, "e", O_RDWR, 0644).error == ENFILE);
    CHECK(f.client.mkdir(kRoot, "f", 0755).error == ENFILE);
    // READDIRPLUS does not go past the limit either: the entries come without a lookup.
    const auto dh = f.client.opendir(kRoot).as<fuse_open_out>().fh;
    for (const auto& d : FuseClient::parse_dirents(f.client.readdir(dh, 0, 8192, true), true)) {
        if (d.name == "d") {
            CHECK(d.entry.nodeid == 0);
        }
    }
    f.client.forget(a, 3); // LOOKUP twice, READDIRPLUS once
    CHECK(f.client.lookup(kRoot, "d").error == 0);
    CHECK(f.client.device->server().fs().inode_count() == 4);
}

TEST_CASE("virtio-fs: the files a guest holds open are limited (ENFILE), and releasing frees them",
          "[unit][virtio-fs]")
{
    FsFixture f([](backends::FsOptions& o) { o.max_handles = 3; });
    f.dir.write("f", "");
    const auto node = f.node(kRoot, "f");
    const auto a = f.open(node, O_RDONLY);
    f.open(node, O_RDONLY);
    const auto dir = f.client.opendir(kRoot);
    REQUIRE(dir.error == 0);
    CHECK(f.client.open(node, O_RDONLY).error == ENFILE);
    CHECK(f.client.opendir(kRoot).error == ENFILE);
    CHECK(f.client.create(kRoot, "g", O_RDWR, 0644).error == ENFILE);
    CHECK(f.client.device->server().fs().inode_count() == 2); // the failed CREATE took no reference
    // A POSIX lock owner's fd counts too.
    CHECK(f.client.wait(f.client.submit_setlk(node, a, 1, fuse_file_lock{0, 1, F_RDLCK, 1}, false)).error ==
          ENFILE);
    CHECK(f.client.release(a).error == 0);
    CHECK(f.client.open(node, O_RDONLY).error == 0);
    CHECK(f.client.device->server().fs().fds_held() == 3);
}

TEST_CASE("virtio-fs: hostile lengths and offsets are refused, never trusted", "[unit][virtio-fs]")
{
    FsFixture f;
    const auto [node, fh] = f.create(kRoot, "f", O_RDWR, 0644);
    REQUIRE(f.client.write(fh, 0, "0123456789").error == 0);
    fuse_read_in read{};
    read.fh = fh;
    read.size = 0xffffffff; // far more than the reply's room: only what fits is read
    const auto clipped = f.client.call(FUSE_READ, 0, FuseArgs().add(read).bytes(), 4);
    CHECK(clipped.error == 0);
    CHECK(clipped.text() == "0123");
    read.offset = ~0ULL;
    CHECK(f.client.call(FUSE_READ, 0, FuseArgs().add(read).bytes(), 4).error == EINVAL);
    CHECK(f.client.write(fh, ~0ULL - 3, "abc").error == EFBIG);
    CHECK(f.client.fallocate(fh, uint64_t{INT64_MAX}, 2).error == EFBIG);
    CHECK(f.client.lseek(fh, ~0ULL, SEEK_HOLE).error == EINVAL);
    CHECK(f.client.copy_file_range(fh, ~0ULL, node, fh, 0, 10).error == EINVAL);
    CHECK(f.client.copy_file_range(fh, 0, node, fh, ~0ULL - 1, 10).error == EINVAL);
    fuse_setattr_in in{};
    in.valid = FATTR_SIZE;
    in.size = ~0ULL;
    CHECK(f.client.setattr(node, in).error == EINVAL);
    // A BATCH_FORGET claiming four billion entries reads only those that arrived.
    const auto ticket = f.client.submit(FUSE_BATCH_FORGET, 0,
                                        FuseArgs().add(fuse_batch_forget_in{0xffffffff, 0}).add(fuse_forget_one{node, 1})
                                            .bytes(),
                                        0, virtio::VirtioFs::kHiprioQueue);
    CHECK(f.client.wait(ticket).used_len == 0);
    // A SETXATTR whose size is past the value sent.
    fuse_setxattr_in sx{1000, 0, 0, 0};
    CHECK(f.client.call(FUSE_SETXATTR, kRoot, FuseArgs().add(sx).name("user.v").raw(std::vector<std::byte>(10)).bytes(),
                        0)
              .error == EINVAL);
    // A name longer than the arguments (no NUL before the end): EINVAL, not a read past them.
    CHECK(f.client.call(FUSE_MKDIR, kRoot, FuseArgs().add(fuse_mkdir_in{0755, 0}).raw(std::vector<std::byte>(300, std::byte{'a'})).bytes(),
                        sizeof(fuse_entry_out))
              .error == ENAMETOOLONG);
    CHECK(f.dir.read("f") == "0123456789");
}

TEST_CASE("virtio-fs cache policies: timeouts, open flags, negative entries", "[unit][virtio-fs]")
{
    auto check = [](backends::FsCachePolicy policy, uint64_t timeout, uint32_t open_flags, uint32_t dir_flags) {
        FsFixture f([&](backends::FsOptions& o) { o.cache = policy; });
        f.dir.write("f", "");
        const auto entry = f.client.lookup(kRoot, "f").as<fuse_entry_out>();
        CHECK(entry.entry_valid == timeout);
        CHECK(entry.attr_valid == timeout);
        CHECK(f.client.getattr(entry.nodeid).as<fuse_attr_out>().attr_valid == timeout);
        CHECK(f.client.open(entry.nodeid, O_RDONLY).as<fuse_open_out>().open_flags == open_flags);
        CHECK(f.client.opendir(kRoot).as<fuse_open_out>().open_flags == dir_flags);
        return f.client.lookup(kRoot, "missing");
    };
    SECTION("auto")
    {
        CHECK(check(backends::FsCachePolicy::Auto, 1, 0, 0).error == ENOENT);
    }
    SECTION("always: a day, data and directories kept, negative lookups cached")
    {
        const auto missing = check(backends::FsCachePolicy::Always, 86400, FOPEN_KEEP_CACHE,
                                   FOPEN_KEEP_CACHE | FOPEN_CACHE_DIR);
        CHECK(missing.error == 0);
        CHECK(missing.as<fuse_entry_out>().nodeid == 0);
        CHECK(missing.as<fuse_entry_out>().entry_valid == 86400);
    }
    SECTION("never: direct I/O")
    {
        CHECK(check(backends::FsCachePolicy::Never, 0, FOPEN_DIRECT_IO, 0).error == ENOENT);
    }
}

TEST_CASE("virtio-fs: a change made on the host shows at the next request", "[unit][virtio-fs]")
{
    FsFixture f;
    f.dir.write("f", "first");
    const auto node = f.node(kRoot, "f");
    CHECK(f.attr(node).size == 5);
    f.dir.write("f", "second version");
    CHECK(f.attr(node).size == 14);
    f.dir.write("g", "new on the host");
    CHECK(f.client.lookup(kRoot, "g").error == 0);
    std::filesystem::remove(f.dir / "g");
    CHECK(f.client.lookup(kRoot, "g").error == ENOENT);
}
