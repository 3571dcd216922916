// What the virtio-fs unit tests share: a scratch directory served by a VirtioFs device, driven
// through the virtio-mmio transport by the FUSE client of tests/support, already past INIT.
#pragma once

#include "backends/fs/fs_options.hpp"
#include "support/fuse_client.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <thread>
#include <functional>
#include <string>
#include <string_view>

namespace minivmm::test {

inline constexpr uint64_t kRoot = FUSE_ROOT_ID;

// Whether `condition` holds within `timeout` (checked every millisecond): for what worker
// threads do in their own time.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout = std::chrono::seconds(5))
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

struct FsFixture {
    TempDir dir{"minivmm-fs"};
    FuseClient client;

    explicit FsFixture(const std::function<void(backends::FsOptions&)>& configure = {}, bool do_init = true)
        : client(options(configure))
    {
        if (do_init) {
            client.init();
        }
    }

    backends::FsOptions options(const std::function<void(backends::FsOptions&)>& configure) const
    {
        backends::FsOptions o;
        o.root = dir.path();
        if (configure) {
            configure(o);
        }
        return o;
    }

    // The node id of `name` in `parent` (one more lookup reference); the test fails otherwise.
    uint64_t node(uint64_t parent, std::string_view name)
    {
        const auto reply = client.lookup(parent, name);
        INFO("LOOKUP " << name << ": errno " << reply.error);
        REQUIRE(reply.error == 0);
        return reply.as<fuse_entry_out>().nodeid;
    }
    fuse_attr attr(uint64_t nodeid)
    {
        const auto reply = client.getattr(nodeid);
        REQUIRE(reply.error == 0);
        return reply.as<fuse_attr_out>().attr;
    }
    uint64_t open(uint64_t nodeid, uint32_t flags)
    {
        const auto reply = client.open(nodeid, flags);
        INFO("OPEN: errno " << reply.error);
        REQUIRE(reply.error == 0);
        return reply.as<fuse_open_out>().fh;
    }
    // CREATE: {node id, file handle}.
    std::pair<uint64_t, uint64_t> create(uint64_t parent, std::string_view name, uint32_t flags = O_RDWR,
                                         uint32_t mode = 0644)
    {
        const auto reply = client.create(parent, name, flags, mode);
        INFO("CREATE " << name << ": errno " << reply.error);
        REQUIRE(reply.error == 0);
        struct {
            fuse_entry_out entry;
            fuse_open_out open;
        } out{};
        std::memcpy(&out, reply.payload.data(), std::min(sizeof(out), reply.payload.size()));
        return {out.entry.nodeid, out.open.fh};
    }
    std::string read_all(uint64_t fh, uint32_t size = 1 << 16)
    {
        const auto reply = client.read(fh, 0, size);
        REQUIRE(reply.error == 0);
        return reply.text();
    }
    struct stat host_stat(const std::filesystem::path& rel) const
    {
        struct stat st {};
        REQUIRE(::lstat((dir / rel).c_str(), &st) == 0);
        return st;
    }
};

} // namespace minivmm::test
