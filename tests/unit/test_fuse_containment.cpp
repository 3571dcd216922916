// The guest never gets out of its share: names that are not single components, symlinks that
// point out, a directory swapped for a symlink between two requests, hostile node ids and
// special files. Each escape attempt is checked on the host: nothing outside changed, nothing
// outside was read.
#include "fuse_fixture.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>

using namespace minivmm;
using namespace minivmm::test;

namespace {

// A share inside a directory that also holds a secret next to it.
struct Escape {
    TempDir outer{"minivmm-escape"};
    std::filesystem::path share = outer / "share";
    FuseClient client;

    Escape() : client(options())
    {
        client.init();
    }
    backends::FsOptions options()
    {
        std::filesystem::create_directory(share);
        outer.write("secret", "outside the share");
        outer.write("share/inside", "inside");
        backends::FsOptions o;
        o.root = share;
        return o;
    }
};

} // namespace

TEST_CASE("virtio-fs: names that are not one component are refused before any system call", "[unit][virtio-fs]")
{
    Escape e;
    for (const char* bad : {"..", ".", "", "../secret", "a/b", "/", "/etc/passwd", "inside/"}) {
        INFO("name '" << bad << "'");
        CHECK(e.client.lookup(kRoot, bad).error == EINVAL);
        CHECK(e.client.mkdir(kRoot, bad, 0755).error == EINVAL);
        CHECK(e.client.create(kRoot, bad, O_RDWR, 0644).error == EINVAL);
        CHECK(e.client.symlink(kRoot, bad, "x").error == EINVAL);
        CHECK(e.client.unlink(kRoot, bad).error == EINVAL);
        CHECK(e.client.rmdir(kRoot, bad).error == EINVAL);
        CHECK(e.client.rename(kRoot, "inside", kRoot, bad).error == EINVAL);
        CHECK(e.client.rename(kRoot, bad, kRoot, "x").error == EINVAL);
    }
    CHECK(e.client.lookup(kRoot, std::string(256, 'n')).error == ENAMETOOLONG);
    CHECK(e.client.lookup(kRoot, std::string(255, 'n')).error == ENOENT); // NAME_MAX itself is fine
    // A name without its NUL.
    CHECK(e.client.call(FUSE_LOOKUP, kRoot, std::as_bytes(std::span("inside", 6)), sizeof(fuse_entry_out)).error ==
          EINVAL);
    // A NUL inside is the end of the name: "inside\0../secret" is "inside".
    const char with_nul[] = "inside\0../secret";
    const auto reply = e.client.call(FUSE_LOOKUP, kRoot, std::as_bytes(std::span(with_nul, sizeof(with_nul))),
                                     sizeof(fuse_entry_out));
    CHECK(reply.error == 0);
    CHECK(reply.as<fuse_entry_out>().attr.size == 6);
    CHECK(e.outer.read("secret") == "outside the share");
    CHECK(std::filesystem::exists(e.share / "inside"));
}

TEST_CASE("virtio-fs: LOOKUP of '..' at the root does not reach the parent", "[unit][virtio-fs]")
{
    Escape e;
    CHECK(e.client.lookup(kRoot, "..").error == EINVAL);
    // Not through a subdirectory either.
    REQUIRE(e.client.mkdir(kRoot, "sub", 0755).error == 0);
    const auto sub = e.client.lookup(kRoot, "sub").as<fuse_entry_out>().nodeid;
    CHECK(e.client.lookup(sub, "..").error == EINVAL);
    // READDIR lists ".." (the guest's driver needs it) but READDIRPLUS looks nothing up for it.
    const auto fh = e.client.opendir(kRoot).as<fuse_open_out>().fh;
    for (const auto& d : FuseClient::parse_dirents(e.client.readdir(fh, 0, 4096, true), true)) {
        if (d.name == "..") {
            CHECK(d.entry.nodeid == 0);
        }
    }
    CHECK(e.client.device->server().fs().inode_count() == 3); // root, sub, and "inside" from the listing
}

TEST_CASE("virtio-fs: a symlink to outside is a symlink to the guest, never followed on the host",
          "[unit][virtio-fs]")
{
    Escape e;
    REQUIRE(::symlink((e.outer / "secret").c_str(), (e.share / "abs").c_str()) == 0);
    REQUIRE(::symlink("../secret", (e.share / "rel").c_str()) == 0);
    REQUIRE(::symlink(e.outer.path().c_str(), (e.share / "dirlink").c_str()) == 0);
    for (const char* name : {"abs", "rel"}) {
        INFO(name);
        const auto entry = e.client.lookup(kRoot, name);
        REQUIRE(entry.error == 0);
        CHECK(S_ISLNK(entry.as<fuse_entry_out>().attr.mode));
        const auto nodeid = entry.as<fuse_entry_out>().nodeid;
        CHECK(e.client.open(nodeid, O_RDONLY).error == ELOOP);
        CHECK(e.client.open(nodeid, O_WRONLY | O_TRUNC).error == ELOOP);
        CHECK(e.client.opendir(nodeid).error == ENOTDIR);
        CHECK(e.client.getxattr(nodeid, "user.x", 64).error == ENODATA);
        fuse_setattr_in in{};
        in.valid = FATTR_SIZE;
        CHECK(e.client.setattr(nodeid, in).error == EINVAL);
        // CREATE over the symlink's name does not create or truncate through it.
        CHECK(e.client.create(kRoot, name, O_RDWR | O_CREAT | O_TRUNC, 0644).error == ELOOP);
    }
    // A symlink to a directory: no lookups beneath it.
    const auto dirlink = e.client.lookup(kRoot, "dirlink").as<fuse_entry_out>().nodeid;
    CHECK(e.client.lookup(dirlink, "secret").error == ENOTDIR);
    CHECK(e.client.create(dirlink, "planted", O_RDWR, 0644).error == ENOTDIR);
    CHECK(e.client.mkdir(dirlink, "planted", 0755).error == ENOTDIR);
    CHECK(e.client.symlink(dirlink, "planted", "x").error == ENOTDIR);
    CHECK(e.client.link(e.client.lookup(kRoot, "inside").as<fuse_entry_out>().nodeid, dirlink, "planted").error ==
          ENOTDIR);
    CHECK(e.outer.read("secret") == "outside the share");
    CHECK(!std::filesystem::exists(e.outer / "planted"));
}

TEST_CASE("virtio-fs: a directory swapped for a symlink between requests sends nothing outside",
          "[unit][virtio-fs]")
{
    Escape e;
    e.outer.write("share/d/file", "in d");
    const auto d = e.client.lookup(kRoot, "d").as<fuse_entry_out>().nodeid;
    // A host process moves d away and puts a symlink to the outer directory in its place.
    std::filesystem::rename(e.share / "d", e.share / "d-moved");
    REQUIRE(::symlink(e.outer.path().c_str(), (e.share / "d").c_str()) == 0);
    // The guest's node is still the directory it looked up: what it does lands there.
    CHECK(e.client.lookup(d, "secret").error == ENOENT);
    CHECK(e.client.lookup(d, "file").error == 0);
    REQUIRE(e.client.create(d, "made", O_RDWR, 0644).error == 0);
    CHECK(std::filesystem::exists(e.share / "d-moved/made"));
    CHECK(!std::filesystem::exists(e.outer / "made"));
    CHECK(e.client.unlink(d, "secret").error == ENOENT);
    CHECK(e.outer.read("secret") == "outside the share");
    // A fresh LOOKUP of "d" finds the symlink, as a symlink.
    CHECK(S_ISLNK(e.client.lookup(kRoot, "d").as<fuse_entry_out>().attr.mode));
    // The same swap for the last component of a name the guest is about to create.
    REQUIRE(::symlink((e.outer / "secret").c_str(), (e.share / "target").c_str()) == 0);
    CHECK(e.client.create(kRoot, "target", O_WRONLY | O_CREAT | O_TRUNC, 0644).error == ELOOP);
    CHECK(e.client.mknod(kRoot, "target", S_IFREG | 0644).error == EEXIST);
    CHECK(e.outer.read("secret") == "outside the share");
}

TEST_CASE("virtio-fs: hostile node ids and file handles are refused", "[unit][virtio-fs]")
{
    Escape e;
    for (const uint64_t node : {uint64_t{0}, uint64_t{2}, uint64_t{1} << 40, ~uint64_t{0}}) {
        INFO("node " << node);
        CHECK(e.client.getattr(node).error == ESTALE);
        CHECK(e.client.lookup(node, "inside").error == ESTALE);
        CHECK(e.client.open(node, O_RDONLY).error == ESTALE);
        CHECK(e.client.link(node, kRoot, "x").error == ESTALE);
    }
    for (const uint64_t fh : {uint64_t{0}, uint64_t{12345}, ~uint64_t{0}}) {
        CHECK(e.client.read(fh, 0, 10).error == EBADF);
        CHECK(e.client.write(fh, 0, "x").error == EBADF);
        CHECK(e.client.flush(fh).error == EBADF);
        CHECK(e.client.readdir(fh, 0, 100).error == EBADF);
    }
}

TEST_CASE("virtio-fs: special files in the share are never opened on the host", "[unit][virtio-fs]")
{
    Escape e;
    REQUIRE(::mkfifo((e.share / "fifo").c_str(), 0666) == 0);
    const auto fifo = e.client.lookup(kRoot, "fifo").as<fuse_entry_out>().nodeid;
    // Opening a FIFO would block a worker until a writer came: refused at once.
    CHECK(e.client.open(fifo, O_RDONLY).error == ENXIO);
    if (::geteuid() == 0) {
        REQUIRE(::mknod((e.share / "null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0);
        const auto dev = e.client.lookup(kRoot, "null").as<fuse_entry_out>();
        CHECK(S_ISCHR(dev.attr.mode));
        CHECK(e.client.open(dev.nodeid, O_RDWR).error == ENXIO);
    }
}
