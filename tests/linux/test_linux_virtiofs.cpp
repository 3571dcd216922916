// [linux] virtio-fs with stock Debian kernels (modules fuse + virtiofs from the default guest's
// initramfs): a host tree with odd names read back with matching checksums; the guest's writes,
// renames, links, symlinks, chmod, utimes, truncate, fallocate and a file unlinked while open,
// each found on the host afterwards; a read-only share refusing writes; two shares at once; a
// host-side change seen by the guest within the attribute timeout; the generic kernel; and
// minivmm run as an unprivileged user.
#include "support/file_contents.hpp"
#include "support/linux_guest.hpp"
#include "support/run_process.hpp"
#include "support/temp_dir.hpp"

#include <minivmm/minivmm.hpp>

#include <catch2/catch.hpp>

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>

using namespace minivmm;
using namespace minivmm::test;
using namespace std::chrono_literals;

namespace {

// The host side of one boot: a writable tree with odd names and a read-only one holding the
// guest's script.
struct ShareTrees {
    TempDir root{"minivmm-virtiofs"};
    std::filesystem::path rw = root / "rw";
    std::filesystem::path ro = root / "ro";
    std::map<std::string, std::string> md5; // "./relative path" -> md5 the host computed

    explicit ShareTrees(const std::string& script)
    {
        std::string big;
        for (uint32_t i = 0, x = 12345; i < (3 << 20); ++i) {
            x = x * 1103515245 + 12345;
            big.push_back(static_cast<char>(x >> 24));
        }
        const std::map<std::string, std::string> files{
            {"plain.txt", "plain\n"},
            {"with space.txt", "spaces in the name\n"},
            {"ünïcödé-名前.txt", "utf-8 name\n"},
            {"dir with spaces/nested file", "nested\n"},
            {"-leading-dash", "dash\n"},
            {"deep/a/b/c/d/e/leaf", "deep\n"},
            {"big.bin", big},
            {"empty", ""},
        };
        for (const auto& [name, content] : files) {
            root.write(std::filesystem::path("rw") / name, content);
            const auto sum = run_process({"/usr/bin/md5sum", (rw / name).string()});
            REQUIRE(sum.exit_code == 0);
            md5["./" + name] = sum.out.substr(0, 32);
        }
        root.write("ro/readme.txt", "read-only share\n");
        root.write("ro/test.sh", script);
    }
};

// What the guest's script does in the writable share; each step is checked on the host after.
constexpr const char* kGuestScript = R"SCRIPT(cd /rw || exit 1
echo '== checksums'
find . -type f | sort | while IFS= read -r f; do md5sum "$f"; done
echo '== end checksums'
echo guest-wrote > new.txt
mkdir newdir
mv new.txt newdir/moved.txt
ln newdir/moved.txt hardlink
ln -s newdir/moved.txt symlink
chmod 640 newdir/moved.txt
touch -d '2001-02-03 04:05:06' stamped.txt
echo 0123456789 > truncated.txt
truncate -s 4 truncated.txt
fallocate -l 1048576 allocated.bin
echo unlinked-data > victim.txt
exec 3< victim.txt
rm victim.txt
echo "victim through its fd: $(cat <&3)"
exec 3<&-
echo "hardlink links=$(stat -c %h hardlink) same-inode=$([ hardlink -ef newdir/moved.txt ] && echo yes)"
echo "symlink -> $(readlink symlink): $(cat symlink)"
echo "ro: $(cat /ro/readme.txt)"
if echo x > /ro/new.txt; then echo 'ro write SUCCEEDED'; fi
mkdir /ro/newdir || echo 'ro mkdir refused'
rm /ro/readme.txt || echo 'ro rm refused'
grep virtiofs /proc/mounts
sync
echo GUEST-DONE
)SCRIPT";

// `boot` with more kernel parameters (minivmm.share=TAG:DIR for the default guest's /init).
std::vector<std::string> argv_with(const LinuxBoot& boot, const std::string& params)
{
    auto argv = boot.argv();
    const auto it = std::find(argv.begin(), argv.end(), "--cmdline");
    REQUIRE(it + 1 < argv.end());
    *(it + 1) = params + " " + *(it + 1);
    return argv;
}

struct Run {
    std::string command;
    ProcessResult result;
    [[nodiscard]] std::string log() const
    {
        return "command: " + command + "\nminivmm exit code " + std::to_string(result.exit_code) +
               "\nminivmm stdout (the guest console):\n" + result.out + "\nminivmm stderr:\n" + result.err;
    }
};

Run run(const std::vector<std::string>& argv)
{
    std::string command;
    for (const auto& a : argv) {
        command += (command.empty() ? "" : " ") + (a.find(' ') != std::string::npos ? "'" + a + "'" : a);
    }
    return {command, run_process(argv, std::chrono::seconds(180))};
}

Run share_boot(const ShareTrees& trees, const std::string& kernel, const std::string& initrd)
{
    LinuxBoot boot;
    boot.kernel = kernel;
    boot.initrd = initrd;
    boot.action = "poweroff";
    boot.extra_args = {"--share", "path=" + trees.rw.string() + ",tag=rw", "--share",
                       trees.ro.string() + ",tag=ro,readonly=on"};
    boot.run = "sh /ro/test.sh";
    return run(argv_with(boot, "minivmm.share=rw:/rw,ro:/ro"));
}

void check_guest_checksums(const std::string& out, const ShareTrees& trees)
{
    const auto start = out.find("== checksums");
    const auto end = out.find("== end checksums");
    REQUIRE(start != std::string::npos);
    REQUIRE(end != std::string::npos);
    std::map<std::string, std::string> seen;
    const std::regex line(R"(([0-9a-f]{32})  (.*)\r?)");
    std::istringstream lines(out.substr(start, end - start));
    for (std::string l; std::getline(lines, l);) {
        std::smatch m;
        if (std::regex_match(l, m, line)) {
            seen[m[2].str()] = m[1].str();
        }
    }
    CHECK(seen == trees.md5);
}

} // namespace

TEST_CASE("Linux virtio-fs: the cloud kernel mounts two shares, reads odd names intact and its changes reach the host",
          "[linux][virtio-fs]")
{
    if (!linux_tier_available()) {
        return;
    }
    ShareTrees trees(kGuestScript);
    const auto boot = share_boot(trees, "vmlinuz-cloud", "initramfs-cloud.cpio.gz");
    const auto& result = boot.result;
    INFO(boot.log());
    REQUIRE(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("GUEST-DONE"));
    CHECK_THAT(result.out, Catch::Contains("minivmm-guest: run exit=0"));
    check_guest_checksums(result.out, trees);
    CHECK_THAT(result.out, Catch::Contains("rw /rw virtiofs"));
    CHECK_THAT(result.out, Catch::Contains("ro /ro virtiofs"));
    // Each change of the script, as the host sees it.
    CHECK(minivmm::test::file_contents(trees.rw / "newdir/moved.txt") == "guest-wrote\n");
    CHECK(!std::filesystem::exists(trees.rw / "new.txt"));
    struct stat a {}, b {};
    REQUIRE(::stat((trees.rw / "hardlink").c_str(), &a) == 0);
    REQUIRE(::stat((trees.rw / "newdir/moved.txt").c_str(), &b) == 0);
    CHECK(a.st_ino == b.st_ino);
    CHECK(a.st_nlink == 2);
    CHECK((a.st_mode & 07777) == 0640);
    CHECK(std::filesystem::read_symlink(trees.rw / "symlink") == "newdir/moved.txt");
    struct stat stamped {};
    REQUIRE(::stat((trees.rw / "stamped.txt").c_str(), &stamped) == 0);
    CHECK(stamped.st_mtim.tv_sec == 981173106); // 2001-02-03 04:05:06 UTC
    CHECK(std::filesystem::file_size(trees.rw / "truncated.txt") == 4);
    struct stat allocated {};
    REQUIRE(::stat((trees.rw / "allocated.bin").c_str(), &allocated) == 0);
    CHECK(allocated.st_size == 1 << 20);
    CHECK(allocated.st_blocks * 512 >= (1 << 20));
    CHECK(!std::filesystem::exists(trees.rw / "victim.txt"));
    CHECK_THAT(result.out, Catch::Contains("victim through its fd: unlinked-data"));
    CHECK_THAT(result.out, Catch::Contains("hardlink links=2 same-inode=yes"));
    CHECK_THAT(result.out, Catch::Contains("symlink -> newdir/moved.txt: guest-wrote"));
    // The read-only share: read, never written.
    CHECK_THAT(result.out, Catch::Contains("ro: read-only share"));
    CHECK_THAT(result.out, Catch::Contains("Read-only file system"));
    CHECK_THAT(result.out, !Catch::Contains("ro write SUCCEEDED"));
    CHECK_THAT(result.out, Catch::Contains("ro mkdir refused"));
    CHECK_THAT(result.out, Catch::Contains("ro rm refused"));
    CHECK(!std::filesystem::exists(trees.ro / "new.txt"));
    CHECK(std::filesystem::exists(trees.ro / "readme.txt"));
}

TEST_CASE("Linux virtio-fs: the generic kernel mounts a share as well", "[linux][virtio-fs]")
{
    if (!linux_tier_available()) {
        return;
    }
    ShareTrees trees(kGuestScript);
    const auto boot = share_boot(trees, "vmlinuz-generic", "initramfs-generic.cpio.gz");
    const auto& result = boot.result;
    INFO(boot.log());
    REQUIRE(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("GUEST-DONE"));
    check_guest_checksums(result.out, trees);
    CHECK(std::filesystem::exists(trees.rw / "newdir/moved.txt"));
}

TEST_CASE("Linux virtio-fs: a change made on the host shows in the guest within the attribute timeout",
          "[linux][virtio-fs]")
{
    if (!linux_tier_available()) {
        return;
    }
    TempDir dir{"minivmm-virtiofs-live"};
    dir.write("host.txt", "before\n");
    VmConfig config;
    config.kernel = linux_guest_file("vmlinuz-cloud");
    config.initrd = linux_guest_file("initramfs-cloud.cpio.gz");
    config.memory_bytes = 256 * kMiB;
    config.console.mode = ConsoleMode::None;
    config.timeout = 180s;
    config.shares.push_back({dir.path(), "live", false, ShareCache::Auto, {}, {}});
    config.cmdline = std::string(kLinuxBaseCmdline) + " minivmm.action=poweroff minivmm.share=live:/mnt " +
                     "minivmm.run=\"cat /mnt/host.txt; echo GUEST-WAITING; i=0; while [ $i -lt 100 ]; do "
                     "grep -q after /mnt/host.txt && ls /mnt/from-host && echo SAW-HOST-CHANGE-$i && break; "
                     "sleep 0.1; i=$((i+1)); done\"";
    auto vm = Vm::create(config);
    auto& console = vm->console();
    vm->start();
    console.expect("GUEST-WAITING", 150s);
    dir.write("host.txt", "after\n");
    dir.write("from-host", "");
    const auto saw = console.expect(R"(SAW-HOST-CHANGE-(\d+))", 60s);
    const auto status = vm->wait();
    INFO("console:\n" << console.output());
    CHECK_THAT(console.output(), Catch::Contains("before"));
    // cache=auto: 1 s of attribute timeout, polled every 0.1 s; allow for a slow nested guest.
    CHECK(std::stoi(saw.groups.at(0)) <= 60);
    CHECK(status.reason == ExitReason::DebugExit); // minivmm.run hands its status to the debug-exit port
    CHECK(status.code == 0);
}

TEST_CASE("Linux virtio-fs: minivmm as an unprivileged user shares a directory; the guest's files are that user's",
          "[linux][virtio-fs]")
{
    if (!linux_tier_available()) {
        return;
    }
    if (::geteuid() != 0) {
        WARN("SKIPPED: this test starts minivmm as uid 65534 and needs root to do so");
        return;
    }
    constexpr uid_t kNobody = 65534;
    // /dev/kvm for the user: through its group where the host gives one; inside the nested
    // test VM (ours, thrown away afterwards) by opening it up.
    struct stat kvm {};
    REQUIRE(::stat("/dev/kvm", &kvm) == 0);
    if (std::filesystem::exists("/run/nested-vm/job.sh")) {
        REQUIRE(::chmod("/dev/kvm", 0666) == 0);
    } else if ((kvm.st_mode & 0060) != 0060 && (kvm.st_mode & 0006) != 0006) {
        WARN("SKIPPED: /dev/kvm is not open to a group or to others here");
        return;
    }
    TempDir dir{"minivmm-virtiofs-user"};
    dir.write("hello.txt", "from the host\n");
    REQUIRE(::chown(dir.path().c_str(), kNobody, kNobody) == 0);
    REQUIRE(::chown((dir / "hello.txt").c_str(), kNobody, kNobody) == 0);
    LinuxBoot boot;
    boot.action = "poweroff";
    boot.extra_args = {"--share", dir.path().string()};
    boot.run = "cat /mnt/hello.txt && echo guest > /mnt/made-by-guest && mkdir /mnt/dir && "
               "stat -c 'owner=%u:%g' /mnt/made-by-guest && id -u";
    auto argv = argv_with(boot, "minivmm.share=share0:/mnt");
    argv.insert(argv.begin(), {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                               "--groups=" + std::to_string(kvm.st_gid), "--"});
    const auto user = run(argv);
    const auto& result = user.result;
    INFO(user.log());
    REQUIRE(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("from the host"));
    // The guest runs as its root, and what it made belongs to the host's unprivileged user,
    // which is also what the guest sees (ids as they are).
    CHECK_THAT(result.out, Catch::Contains("owner=65534:65534"));
    struct stat made {};
    REQUIRE(::stat((dir / "made-by-guest").c_str(), &made) == 0);
    CHECK(made.st_uid == kNobody);
    CHECK(made.st_gid == kNobody);
    CHECK(std::filesystem::is_directory(dir / "dir"));
}
