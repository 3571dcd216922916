// virtio-fs under seccomp (docs/architecture.md "Seccomp"): the server's threads run under the
// util::ThreadKind::Fs allow-list that the VM builds (the base lists plus VirtioFs::add_syscalls),
// and every operation the server serves makes only calls on it. A call off the list would end
// the process with exit 125, so the requests run in a child process and the test reads its
// exit status and the one line a trap prints.
#include "fuse_fixture.hpp"

#include "vmm/seccomp_lists.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

using namespace minivmm;
using namespace minivmm::test;

namespace {

// Every opcode the server serves, with success paths that reach the host's calls. Returns
// the first step that failed (0: all answered as expected).
int exercise(FuseClient& c, const TempDir& dir)
{
    int step = 0;
    const auto ok = [&step](const FuseClient::Reply& reply) {
        ++step;
        return reply.error == 0;
    };
    if (!ok(c.init())) {
        return step;
    }
    const auto d = c.mkdir(kRoot, "d", 0755);
    if (!ok(d)) {
        return step;
    }
    const uint64_t dnode = d.as<fuse_entry_out>().nodeid;
    const auto created = c.create(dnode, "f", O_RDWR, 0644);
    if (!ok(created)) {
        return step;
    }
    struct {
        fuse_entry_out entry;
        fuse_open_out open;
    } out{};
    std::memcpy(&out, created.payload.data(), std::min(sizeof(out), created.payload.size()));
    const uint64_t node = out.entry.nodeid;
    const uint64_t fh = out.open.fh;
    if (!ok(c.write(fh, 0, std::string(8192, 'x'))) || !ok(c.read(fh, 0, 4096)) || !ok(c.fsync(fh, false)) ||
        !ok(c.fsync(fh, true)) || !ok(c.flush(fh)) || !ok(c.lseek(fh, 0, SEEK_DATA)) ||
        !ok(c.fallocate(fh, 0, 16384)) || !ok(c.getattr(node)) || !ok(c.statfs(node)) || !ok(c.access(node, R_OK))) {
        return step;
    }
    fuse_setattr_in attr{};
    attr.valid = FATTR_MODE | FATTR_SIZE | FATTR_ATIME | FATTR_MTIME;
    attr.mode = 0600;
    attr.size = 100;
    attr.atime = 1;
    attr.mtime = 2;
    if (!ok(c.setattr(node, attr))) {
        return step;
    }
    attr = {};
    attr.valid = FATTR_SIZE | FATTR_FH | FATTR_MTIME_NOW | FATTR_ATIME_NOW;
    attr.fh = fh;
    attr.size = 10;
    if (!ok(c.setattr(node, attr))) {
        return step;
    }
    attr = {};
    attr.valid = FATTR_UID | FATTR_GID;
    attr.uid = static_cast<uint32_t>(::geteuid());
    attr.gid = static_cast<uint32_t>(::getegid());
    if (!ok(c.setattr(node, attr))) {
        return step;
    }
    const auto copy = c.create(dnode, "g", O_RDWR, 0644);
    if (!ok(copy)) {
        return step;
    }
    std::memcpy(&out, copy.payload.data(), std::min(sizeof(out), copy.payload.size()));
    if (!ok(c.copy_file_range(fh, 0, out.entry.nodeid, out.open.fh, 0, 10)) ||
        !ok(c.release(out.open.fh)) || !ok(c.setxattr(node, "user.k", "v")) || !ok(c.getxattr(node, "user.k", 64)) ||
        !ok(c.listxattr(node, 64)) || !ok(c.removexattr(node, "user.k"))) {
        return step;
    }
    // Locks: POSIX and flock; a SETLKW that waits is retried by the lock-waiter thread.
    const uint64_t fh2 = c.open(node, O_RDWR).as<fuse_open_out>().fh;
    if (!ok(c.wait(c.submit_setlk(node, fh, 1, fuse_file_lock{0, 4, F_WRLCK, 10}, false))) ||
        !ok(c.getlk(node, fh2, 2, fuse_file_lock{0, 4, F_WRLCK, 20}))) {
        return step;
    }
    const auto waiting = c.submit_setlk(node, fh2, 2, fuse_file_lock{0, 4, F_WRLCK, 20}, true);
    std::this_thread::sleep_for(std::chrono::milliseconds(30)); // a few retries of the waiter
    if (!ok(c.wait(c.submit_setlk(node, fh, 1, fuse_file_lock{0, 4, F_UNLCK, 10}, false))) || !ok(c.wait(waiting)) ||
        !ok(c.wait(c.submit_setlk(node, fh, 3, fuse_file_lock{0, 0, F_RDLCK, 30}, false, true)))) {
        return step;
    }
    // Names.
    if (!ok(c.link(node, kRoot, "hard")) || !ok(c.symlink(kRoot, "sym", "d/f")) ||
        !ok(c.readlink(c.lookup(kRoot, "sym").as<fuse_entry_out>().nodeid)) ||
        !ok(c.mknod(kRoot, "fifo", S_IFIFO | 0644)) || !ok(c.rename(kRoot, "hard", kRoot, "hard2")) ||
        !ok(c.rename(kRoot, "hard2", kRoot, "sym", RENAME_EXCHANGE)) || !ok(c.lookup(dnode, "f"))) {
        return step;
    }
    const uint64_t dh = c.opendir(kRoot).as<fuse_open_out>().fh;
    if (!ok(c.readdir(dh, 0, 4096, false)) || !ok(c.readdir(dh, 0, 4096, true)) || !ok(c.fsync(dh, false, true)) ||
        !ok(c.release(dh, true)) || !ok(c.release(fh)) || !ok(c.release(fh2)) || !ok(c.unlink(kRoot, "fifo")) ||
        !ok(c.unlink(dnode, "g")) || !ok(c.unlink(dnode, "f")) || !ok(c.unlink(kRoot, "hard2")) ||
        !ok(c.unlink(kRoot, "sym")) || !ok(c.rmdir(kRoot, "d"))) {
        return step;
    }
    c.forget(node, 1);
    if (!ok(c.call(FUSE_SYNCFS, kRoot, FuseArgs().add(fuse_syncfs_in{}).bytes(), 0)) ||
        !ok(c.call(FUSE_DESTROY, kRoot, {}, 0))) {
        return step;
    }
    // The host sees the tree empty again.
    return std::filesystem::is_empty(dir.path()) ? 0 : 1000;
}

} // namespace

TEST_CASE("virtio-fs under seccomp: every operation the server serves stays on its threads' allow-list",
          "[unit][virtio-fs][seccomp]")
{
    TempDir dir{"minivmm-fs-seccomp"};
    // What the builder gives the device: the base lists, the device's own added by its constructor.
    const util::SeccompPolicy base = vmm::base_seccomp_policy();
    REQUIRE(util::seccomp_available());
    std::fflush(nullptr);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        int code = 0;
        try {
            backends::FsOptions options;
            options.root = dir.path();
            FuseClient client(options, "test", FuseClient::kDefaultRam, 2, 0, &base);
            code = exercise(client, dir);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "child: %s\n", e.what());
            code = 99;
        }
        ::_exit(code == 0 ? 0 : (code > 120 ? 121 : code));
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    INFO("exit 125: a server thread made a forbidden call (its name is on stderr); 1-120: that step failed");
    CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("virtio-fs under seccomp: the workers and the lock waiter are filtered, the caller is not",
          "[unit][virtio-fs][seccomp]")
{
    TempDir dir{"minivmm-fs-seccomp"};
    const util::SeccompPolicy base = vmm::base_seccomp_policy();
    std::fflush(nullptr);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        backends::FsOptions options;
        options.root = dir.path();
        FuseClient client(options, "test", FuseClient::kDefaultRam, 3, 0, &base);
        // Threads of this process in seccomp filter mode (2): the 3 workers and the lock waiter.
        int filtered = 0;
        int unfiltered = 0;
        for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
            std::ifstream status(task.path() / "status");
            for (std::string line; std::getline(status, line);) {
                if (line.starts_with("Seccomp:")) {
                    (line.find('2') != std::string::npos ? filtered : unfiltered) += 1;
                }
            }
        }
        ::_exit(filtered == 4 && unfiltered >= 1 ? 0 : 10 + filtered);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    INFO("exit 10 + N: N threads filtered, 4 expected");
    CHECK(WEXITSTATUS(status) == 0);
}
