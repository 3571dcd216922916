// The virtio-fs server's operations on open files, each with its success and its error paths,
// checked against the host's files: OPEN, CREATE (O_EXCL, O_TRUNC, O_APPEND), READ, WRITE,
// FLUSH, RELEASE, FSYNC, LSEEK, FALLOCATE, COPY_FILE_RANGE, SYNCFS; a file open while its name
// goes; and the identity of what the guest creates.
#include "fuse_fixture.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

using namespace minivmm;
using namespace minivmm::test;

TEST_CASE("virtio-fs CREATE, WRITE, READ, RELEASE: the bytes reach the host file and come back", "[unit][virtio-fs]")
{
    FsFixture f;
    const auto [node, fh] = f.create(kRoot, "new file ü", O_RDWR, 0640);
    CHECK((f.host_stat("new file ü").st_mode & 07777) == 0640);
    const auto wrote = f.client.write(fh, 0, "hello, world");
    REQUIRE(wrote.error == 0);
    CHECK(wrote.as<fuse_write_out>().size == 12);
    CHECK(f.client.write(fh, 7, "there").as<fuse_write_out>().size == 5);
    CHECK(f.dir.read("new file ü") == "hello, there");
    CHECK(f.client.read(fh, 7, 100).text() == "there");
    CHECK(f.client.read(fh, 12, 100).text().empty()); // end of file
    CHECK(f.client.read(fh, 1ULL << 40, 10).text().empty());
    CHECK(f.client.flush(fh).error == 0);
    CHECK(f.client.fsync(fh).error == 0);
    CHECK(f.client.fsync(fh, true).error == 0);
    CHECK(f.client.release(fh).error == 0);
    CHECK(f.client.read(fh, 0, 10).error == EBADF);
    CHECK(f.client.write(fh, 0, "x").error == EBADF);
    CHECK(f.client.release(fh).error == EBADF);
    CHECK(f.client.fsync(fh).error == EBADF);
    CHECK(f.client.device->server().fs().handle_count() == 0);
    CHECK(node > kRoot);
}

TEST_CASE("virtio-fs CREATE and OPEN flags: O_EXCL, O_TRUNC, O_APPEND, access modes", "[unit][virtio-fs]")
{
    FsFixture f;
    f.dir.write("existing", "old contents");
    CHECK(f.client.create(kRoot, "existing", O_RDWR | O_CREAT | O_EXCL, 0644).error == EEXIST);
    // Without O_EXCL an existing file is opened, its owner and mode untouched.
    const auto mode_before = f.host_stat("existing").st_mode;
    const auto [node, fh] = f.create(kRoot, "existing", O_RDWR | O_CREAT, 0600);
    CHECK(f.host_stat("existing").st_mode == mode_before);
    CHECK(f.read_all(fh) == "old contents");
    SECTION("O_TRUNC")
    {
        const auto t = f.open(node, O_WRONLY | O_TRUNC);
        CHECK(f.host_stat("existing").st_size == 0);
        CHECK(f.client.release(t).error == 0);
    }
    SECTION("O_APPEND writes at the end whatever the offset")
    {
        const auto a = f.open(node, O_WRONLY | O_APPEND);
        CHECK(f.client.write(a, 0, "+tail").error == 0);
        CHECK(f.dir.read("existing") == "old contents+tail");
    }
    SECTION("a read-only handle cannot write, a write-only one cannot read")
    {
        const auto r = f.open(node, O_RDONLY);
        CHECK(f.client.write(r, 0, "x").error == EBADF);
        const auto w = f.open(node, O_WRONLY);
        CHECK(f.client.read(w, 0, 4).error == EBADF);
    }
    SECTION("errors")
    {
        CHECK(f.client.open(kRoot, O_RDONLY).error == EISDIR);
        CHECK(f.client.open(node, O_ACCMODE).error == EINVAL);
        CHECK(f.client.open(55555, O_RDONLY).error == ESTALE);
        CHECK(f.client.create(node, "x", O_RDWR, 0644).error == ENOTDIR);
        f.dir.write("d/.keep", "");
        CHECK(f.client.create(kRoot, "d", O_RDWR | O_CREAT, 0644).error == EISDIR);
    }
}

TEST_CASE("virtio-fs: a file open and then unlinked or renamed still reads, writes and fstat's", "[unit][virtio-fs]")
{
    FsFixture f;
    const auto [node, fh] = f.create(kRoot, "doomed", O_RDWR, 0644);
    REQUIRE(f.client.write(fh, 0, "still here").error == 0);
    SECTION("unlinked")
    {
        REQUIRE(f.client.unlink(kRoot, "doomed").error == 0);
        CHECK(!std::filesystem::exists(f.dir / "doomed"));
        CHECK(f.client.write(fh, 10, " and more").error == 0);
        CHECK(f.client.read(fh, 0, 100).text() == "still here and more");
        CHECK(f.attr(node).nlink == 0);
        CHECK(f.attr(node).size == 19);
        fuse_setattr_in in{};
        in.valid = FATTR_SIZE; // truncate by inode, no handle
        in.size = 5;
        CHECK(f.client.setattr(node, in).error == 0);
        CHECK(f.client.read(fh, 0, 100).text() == "still");
    }
    SECTION("renamed")
    {
        f.dir.write("sub/.keep", "");
        REQUIRE(f.client.rename(kRoot, "doomed", f.node(kRoot, "sub"), "saved").error == 0);
        CHECK(f.client.read(fh, 0, 100).text() == "still here");
        CHECK(f.client.write(fh, 0, "STILL").error == 0);
        CHECK(f.dir.read("sub/saved") == "STILL here");
    }
}

TEST_CASE("virtio-fs READ and WRITE of a megabyte go in one request each", "[unit][virtio-fs]")
{
    FsFixture f;
    const auto [node, fh] = f.create(kRoot, "big", O_RDWR, 0644);
    std::vector<std::byte> data(1024 * 1024);
    for (size_t i = 0; i < data.size(); ++i) {
        data[i] = static_cast<std::byte>((i * 131) ^ (i >> 9));
    }
    const auto wrote = f.client.write(fh, 4096, data);
    REQUIRE(wrote.error == 0);
    CHECK(wrote.as<fuse_write_out>().size == data.size());
    const auto read = f.client.read(fh, 4096, 1024 * 1024);
    REQUIRE(read.error == 0);
    CHECK(read.payload == data);
    CHECK(f.attr(node).size == 4096 + data.size());
    // A READ larger than the room the guest gave: only what fits.
    fuse_read_in in{};
    in.fh = fh;
    in.size = 1 << 20;
    const auto clipped = f.client.call(FUSE_READ, 0, FuseArgs().add(in).bytes(), 100);
    CHECK(clipped.payload.size() == 100);
    in.offset = uint64_t{INT64_MAX} - 10;
    CHECK(f.client.call(FUSE_READ, 0, FuseArgs().add(in).bytes(), 100).error == EINVAL);
    CHECK(f.client.write(fh, uint64_t{INT64_MAX} - 2, "toolong").error == EFBIG);
}

TEST_CASE("virtio-fs LSEEK finds data and holes; FALLOCATE allocates and punches", "[unit][virtio-fs]")
{
    FsFixture f;
    const auto [node, fh] = f.create(kRoot, "sparse", O_RDWR, 0644);
    REQUIRE(f.client.write(fh, 1 << 20, "data after a hole").error == 0);
    const auto data = f.client.lseek(fh, 0, SEEK_DATA);
    REQUIRE(data.error == 0);
    CHECK(data.as<fuse_lseek_out>().offset <= (1U << 20));
    CHECK(f.client.lseek(fh, 0, SEEK_HOLE).error == 0);
    CHECK(f.client.lseek(fh, 0, SEEK_END).as<fuse_lseek_out>().offset == (1U << 20) + 17);
    CHECK(f.client.lseek(fh, 5U << 20, SEEK_DATA).error == ENXIO);
    CHECK(f.client.lseek(fh, 0, SEEK_CUR).error == EINVAL); // the guest keeps its own position
    CHECK(f.client.lseek(fh, 0, 77).error == EINVAL);
    CHECK(f.client.lseek(fh, ~0ULL, SEEK_DATA).error == EINVAL);
    CHECK(f.client.lseek(9999, 0, SEEK_DATA).error == EBADF);

    REQUIRE(f.client.fallocate(fh, 0, 3 << 20).error == 0);
    CHECK(f.host_stat("sparse").st_size == 3 << 20);
    CHECK(f.client.fallocate(fh, 0, 4096, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE).error == 0);
    CHECK(f.host_stat("sparse").st_size == 3 << 20);
    CHECK(f.client.fallocate(fh, ~0ULL - 5, 100).error == EFBIG);
    CHECK(f.client.fallocate(fh, 0, 0).error == EINVAL);
    CHECK(f.client.fallocate(4242, 0, 10).error == EBADF);
}

TEST_CASE("virtio-fs COPY_FILE_RANGE copies between open files on the host", "[unit][virtio-fs]")
{
    FsFixture f;
    f.dir.write("src", "0123456789abcdef");
    const auto in = f.open(f.node(kRoot, "src"), O_RDONLY);
    const auto [out_node, out] = f.create(kRoot, "dst", O_RDWR, 0644);
    const auto copied = f.client.copy_file_range(in, 4, out_node, out, 2, 6);
    REQUIRE(copied.error == 0);
    CHECK(copied.as<fuse_write_out>().size == 6);
    CHECK(f.dir.read("dst") == std::string("\0\0", 2) + "456789");
    fuse_copy_file_range_in args{in, 0, out_node, out, 0, 4, 1};
    CHECK(f.client.call(FUSE_COPY_FILE_RANGE, 0, FuseArgs().add(args).bytes(), 8).error == EINVAL); // flags
    CHECK(f.client.copy_file_range(in, 0, out_node, 777, 0, 4).error == EBADF);
}

TEST_CASE("virtio-fs SYNCFS and FSYNCDIR reach the host's disk", "[unit][virtio-fs]")
{
    FsFixture f;
    CHECK(f.client.call(FUSE_SYNCFS, kRoot, FuseArgs().add(fuse_syncfs_in{}).bytes(), 0).error == 0);
    const auto dh = f.client.opendir(kRoot).as<fuse_open_out>().fh;
    CHECK(f.client.fsync(dh, false, true).error == 0);
    CHECK(f.client.fsync(dh, false, false).error == EBADF); // a directory handle is not a file's
}

TEST_CASE("virtio-fs: what the guest creates is the host user's, or the caller's when minivmm is root",
          "[unit][virtio-fs]")
{
    FsFixture f;
    f.client.uid = 2345;
    f.client.gid = 3456;
    const auto [node, fh] = f.create(kRoot, "mine", O_RDWR, 0644);
    REQUIRE(f.client.mkdir(kRoot, "dir", 0755).error == 0);
    REQUIRE(f.client.symlink(kRoot, "sym", "mine").error == 0);
    REQUIRE(f.client.mknod(kRoot, "fifo", S_IFIFO | 0600).error == 0);
    for (const char* name : {"mine", "dir", "sym", "fifo"}) {
        INFO(name);
        const auto st = f.host_stat(name);
        if (::geteuid() == 0) {
            CHECK(st.st_uid == 2345);
            CHECK(st.st_gid == 3456);
        } else {
            CHECK(st.st_uid == ::geteuid());
        }
    }
    CHECK(fh > 0);
    CHECK(node > kRoot);
}

TEST_CASE("virtio-fs uid=/gid= maps: the guest sees host ids through the maps, and chown maps back",
          "[unit][virtio-fs]")
{
    const uint32_t me = ::geteuid();
    const uint32_t my_group = ::getegid();
    FsFixture f([&](backends::FsOptions& o) {
        o.uids = backends::IdMap({{1000, me, 1}});
        o.gids = backends::IdMap({{2000, my_group, 1}});
    });
    f.dir.write("file", "");
    const auto node = f.node(kRoot, "file");
    CHECK(f.attr(node).uid == 1000);
    CHECK(f.attr(node).gid == 2000);
    fuse_setattr_in in{};
    in.valid = FATTR_UID | FATTR_GID;
    in.uid = 1000; // the guest gives it to guest uid 1000: the host's `me`
    in.gid = 2000;
    CHECK(f.client.setattr(node, in).error == 0);
    CHECK(f.host_stat("file").st_uid == me);
    const auto parsed = backends::parse_id_range("0:1000:65536");
    REQUIRE(parsed);
    CHECK(parsed->count == 65536);
    CHECK(!backends::parse_id_range("1:2:0"));
    CHECK(!backends::parse_id_range("4294967295:0:2"));
    CHECK(!backends::parse_id_range("1:x"));
    CHECK(!backends::parse_id_range("12"));
    const backends::IdMap map({{0, 100000, 65536}});
    CHECK(map.to_host(0) == 100000);
    CHECK(map.to_host(65535) == 165535);
    CHECK(map.to_host(65536) == 65536); // outside every range: itself
    CHECK(map.to_guest(100005) == 5);
    CHECK(map.to_guest(7) == 7);
}
