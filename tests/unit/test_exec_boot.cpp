// The boot plan of `minivmm exec` (vmm/exec_boot.hpp) on a fake host: the default kernel is
// the running one's image, the default modules the tree of the release read from that image,
// the modules the guest needs come dependencies first, the shares and the command's directory
// are worked out and checked, and every bad input is one ConfigError naming it. Also what a
// run comes to (vmm/exec_channel.hpp): the command's status or minivmm's code for why not.
#include "support/config_error.hpp"
#include "support/fake_kernel.hpp"
#include "vmm/exec_boot.hpp"
#include "vmm/exec_channel.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <unistd.h>

using namespace minivmm;
using namespace minivmm::vmm;
namespace fs = std::filesystem;

namespace {

constexpr const char* kRelease = "6.1.0-77-test-amd64";

// /boot and /lib/modules of a host running kRelease, in a scratch directory.
struct FakeHost {
    fs::path dir = fs::temp_directory_path() / ("minivmm-exec-boot-" + std::to_string(::getpid()));
    ExecHost host;

    FakeHost()
    {
        fs::remove_all(dir);
        test::write_bytes(dir / "boot" / (std::string("vmlinuz-") + kRelease), test::fake_bzimage(std::string(kRelease) + " (x) #1"));
        const auto tree = dir / "lib/modules" / kRelease;
        test::add_fake_module(tree, "kernel/drivers/virtio/virtio.ko", "virtio", "", kRelease);
        test::add_fake_module(tree, "kernel/drivers/virtio/virtio_ring.ko", "virtio_ring", "", kRelease);
        test::add_fake_module(tree, "kernel/drivers/virtio/virtio_mmio.ko", "virtio_mmio", "virtio,virtio_ring", kRelease);
        test::add_fake_module(tree, "kernel/drivers/char/virtio_console.ko", "virtio_console", "virtio,virtio_ring",
                              kRelease);
        test::add_fake_module(tree, "kernel/fs/fuse/virtiofs.ko", "virtiofs", "fuse,virtio,virtio_ring", kRelease);
        test::add_fake_module(tree, "kernel/fs/fuse/fuse.ko", "fuse", "", kRelease);
        test::add_fake_module(tree, "kernel/drivers/block/virtio_blk.ko", "virtio_blk", "virtio,virtio_ring", kRelease);
        fs::create_directories(dir / "work/rw/inner");
        host.running_release = kRelease;
        host.boot_dir = dir / "boot";
        host.modules_dir = dir / "lib/modules";
        host.current_dir = dir / "work";
    }
    ~FakeHost() { fs::remove_all(dir); }

    [[nodiscard]] ExecConfig config() const
    {
        ExecConfig c;
        c.command.argv = {"true"};
        return c;
    }
};

template <typename F>
void expect_config_error(F&& f, const std::string& mention)
{
    CHECK_THAT(test::config_error(std::forward<F>(f)), Catch::Contains(mention));
}

// agent.conf as the initramfs holds it (an uncompressed newc cpio: the text follows its name).
std::string agent_text(const std::vector<uint8_t>& initramfs)
{
    const std::string archive(initramfs.begin(), initramfs.end());
    const std::string name = "etc/minivmm/agent.conf";
    auto at = archive.rfind(name); // the last entry (the agent's code names the file too)
    REQUIRE(at != std::string::npos);
    at += name.size();
    while (archive[at] == '\0') {
        ++at;
    }
    return archive.substr(at, archive.find('\0', at) - at);
}

} // namespace

TEST_CASE("exec boot: the running kernel and its modules by default, dependencies first", "[unit][exec]")
{
    FakeHost fake;
    const auto boot = prepare_exec_boot(fake.config(), fake.host);
    CHECK(boot.vm.kernel == fake.dir / "boot" / (std::string("vmlinuz-") + kRelease));
    CHECK(boot.release == kRelease);
    CHECK(boot.modules == fake.dir / "lib/modules" / kRelease);
    CHECK(boot.module_names ==
          std::vector<std::string>{"virtio", "virtio_ring", "virtio_mmio", "virtio_console", "fuse", "virtiofs"});
    CHECK(boot.vm.cmdline == "console=ttyS0 reboot=k panic=-1 quiet");
    CHECK(boot.vm.console.mode == ConsoleMode::None);
    CHECK(boot.cwd == fake.dir / "work");
    REQUIRE(boot.vm.shares.size() == 1);
    CHECK(boot.vm.shares[0].path == "/");
    CHECK(boot.vm.shares[0].tag == "root");
    CHECK(boot.vm.shares[0].readonly);
    CHECK_FALSE(boot.vm.initrd);
    CHECK(boot.initramfs.size() > 100'000); // the agent, the modules, agent.conf
}

TEST_CASE("exec boot: --rw directories are writable shares at their own paths, parents first", "[unit][exec]")
{
    FakeHost fake;
    auto config = fake.config();
    config.rw = {"rw/inner", fake.dir / "work/rw", "rw/./inner/"};
    DiskConfig disk;
    disk.path = fake.dir / "boot" / (std::string("vmlinuz-") + kRelease);
    config.vm.disks.push_back(disk);
    const auto boot = prepare_exec_boot(config, fake.host);
    REQUIRE(boot.vm.shares.size() == 3);
    CHECK(boot.vm.shares[1].path == fake.dir / "work/rw");
    CHECK(boot.vm.shares[1].tag == "rw0");
    CHECK_FALSE(boot.vm.shares[1].readonly);
    CHECK(boot.vm.shares[2].path == fake.dir / "work/rw/inner");
    CHECK(boot.vm.shares[2].tag == "rw1");
    // A disk brings its driver.
    CHECK(boot.module_names.back() == "virtio_blk");
}

TEST_CASE("exec boot: an own root, --cwd inside it, a writable root", "[unit][exec]")
{
    FakeHost fake;
    auto config = fake.config();
    config.root = fake.dir / "work";
    config.command.cwd = "/rw/inner";
    auto boot = prepare_exec_boot(config, fake.host);
    CHECK(boot.vm.shares[0].path == fake.dir / "work");
    CHECK(boot.cwd == "/rw/inner");
    config.rw = {fake.dir / "work"};
    boot = prepare_exec_boot(config, fake.host);
    REQUIRE(boot.vm.shares.size() == 1);
    CHECK_FALSE(boot.vm.shares[0].readonly);
}

TEST_CASE("exec boot: explicit kernel and modules, and a kernel with its drivers built in", "[unit][exec]")
{
    FakeHost fake;
    auto config = fake.config();
    config.vm.kernel = fake.dir / "boot" / (std::string("vmlinuz-") + kRelease);
    config.modules = fake.dir / "lib/modules" / kRelease;
    fake.host.running_release = "something-else";
    CHECK(prepare_exec_boot(config, fake.host).module_names.size() == 6);
    config.modules.reset();
    config.builtin_drivers = true;
    const auto boot = prepare_exec_boot(config, fake.host);
    CHECK(boot.module_names.empty());
    CHECK(boot.modules.empty());
}

TEST_CASE("exec boot: user-mode NICs get a MAC address and the agent configures them; TAP NICs are left alone",
          "[unit][exec]")
{
    FakeHost fake;
    test::add_fake_module(fake.host.modules_dir / kRelease, "kernel/drivers/net/virtio_net.ko", "virtio_net",
                          "virtio,virtio_ring", kRelease);
    auto config = fake.config();
    NetConfig tap;
    tap.tap = "tap0";
    config.vm.nets.push_back(tap);
    NetConfig user;
    user.mode = NetMode::User;
    config.vm.nets.push_back(user);
    user.mac = std::array<uint8_t, 6>{0x52, 0x54, 0x00, 0x01, 0x02, 0x03};
    user.user.network = {192, 168, 100, 0};
    config.vm.nets.push_back(user);
    const auto boot = prepare_exec_boot(config, fake.host);
    CHECK(boot.module_names.back() == "virtio_net");
    CHECK_FALSE(boot.vm.nets[0].mac);
    REQUIRE(boot.vm.nets[1].mac);
    CHECK(boot.vm.nets[1].mac->at(0) == 0x52);
    const auto& m = *boot.vm.nets[1].mac;
    const auto conf = agent_text(boot.initramfs);
    CHECK_THAT(conf, Catch::Contains(fmt::format("\nnet {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x} 10.0.2.15/24 10.0.2.2 "
                                                 "10.0.2.3\nnet 52:54:00:01:02:03 192.168.100.15/24 - -\n",
                                                 m[0], m[1], m[2], m[3], m[4], m[5])));
    size_t lines = 0;
    for (auto at = conf.find("\nnet "); at != std::string::npos; at = conf.find("\nnet ", at + 1)) {
        ++lines;
    }
    CHECK(lines == 2); // none for the TAP
}

TEST_CASE("exec boot: bad input is one line naming the problem", "[unit][exec]")
{
    FakeHost fake;
    auto config = fake.config();
    fake.host.running_release = "9.9.9-missing";
    expect_config_error([&] { (void)prepare_exec_boot(config, fake.host); },
                        "no kernel given, and the running kernel 9.9.9-missing has no image at '" +
                            (fake.dir / "boot/vmlinuz-9.9.9-missing").string() + "' (give --kernel)");
    fake.host.running_release = kRelease;
    config.vm.kernel = "/nonexistent/vmlinuz";
    expect_config_error([&] { (void)prepare_exec_boot(config, fake.host); }, "cannot open kernel '/nonexistent/vmlinuz'");
    config.vm.kernel.clear();

    fs::rename(fake.dir / "lib/modules" / kRelease, fake.dir / "lib/modules/elsewhere");
    expect_config_error([&] { (void)prepare_exec_boot(config, fake.host); },
                        std::string("no modules for kernel ") + kRelease + ": '");
    config.modules = fake.dir / "lib/modules/elsewhere";
    test::add_fake_module(*config.modules, "kernel/fs/fuse/fuse.ko", "fuse", "", "5.10.0-other");
    expect_config_error([&] { (void)prepare_exec_boot(config, fake.host); },
                        std::string("was built for kernel 5.10.0-other, not ") + kRelease);
    fs::remove(*config.modules / "kernel/fs/fuse/fuse.ko");
    expect_config_error([&] { (void)prepare_exec_boot(config, fake.host); },
                        "kernel module 'fuse' (needed by 'virtiofs') is neither in");
    config.modules = "/nonexistent/modules";
    expect_config_error([&] { (void)prepare_exec_boot(config, fake.host); },
                        "module directory '/nonexistent/modules' does not exist");
    config.builtin_drivers = true;

    config.rw = {"/nonexistent/rw"};
    expect_config_error([&] { (void)prepare_exec_boot(config, fake.host); }, "--rw '/nonexistent/rw' is not a directory");
    config.rw = {fake.dir / "boot" / (std::string("vmlinuz-") + kRelease)};
    expect_config_error([&] { (void)prepare_exec_boot(config, fake.host); }, "is not a directory");
    config.rw.clear();

    config.root = fake.dir / "work";
    config.command.cwd = "/nonexistent";
    expect_config_error([&] { (void)prepare_exec_boot(config, fake.host); },
                        "--cwd '/nonexistent' is not a directory in the root '" + (fake.dir / "work").string() + "'");
    config.command.cwd.clear();
    fake.host.current_dir = fake.dir / "boot";
    expect_config_error([&] { (void)prepare_exec_boot(config, fake.host); },
                        "the current directory '" + (fake.dir / "boot").string() + "' is not in the root");
    config.root = "/nonexistent-root";
    expect_config_error([&] { (void)prepare_exec_boot(config, fake.host); }, "--root '/nonexistent-root' is not a directory");
    config.root = "/";
    config.rw = {fake.dir / "work/rw"};
    config.root = fake.dir / "boot";
    fake.host.current_dir = "/";
    config.command.cwd = "/";
    expect_config_error([&] { (void)prepare_exec_boot(config, fake.host); }, "has no directory");
    config.root = "/";
    config.rw.clear();

    config.vm.console.mode = ConsoleMode::Stdio;
    expect_config_error([&] { (void)prepare_exec_boot(config, fake.host); }, "cannot use stdin or stdout");
    config.vm.console.mode = ConsoleMode::None;
    config.vm.initrd = "/x";
    expect_config_error([&] { (void)prepare_exec_boot(config, fake.host); }, "takes no --initrd");
    config.vm.initrd.reset();
    config.command.argv.clear();
    expect_config_error([&] { (void)exec(config); }, "no command to run");
    config.command.argv = {"true"};
    for (int i = 0; i < 20; ++i) {
        const auto dir = fake.dir / "work" / ("d" + std::to_string(i));
        fs::create_directories(dir);
        config.rw.push_back(dir);
    }
    expect_config_error([&] { (void)prepare_exec_boot(config, fake.host); }, "more than the 17 a VM has");
}

TEST_CASE("exec boot: a kernel that does not say its release needs --modules", "[unit][exec]")
{
    FakeHost fake;
    test::write_bytes(fake.dir / "boot/anonymous", std::vector<uint8_t>(8192, 0x90));
    auto config = fake.config();
    config.vm.kernel = fake.dir / "boot/anonymous";
    expect_config_error([&] { (void)prepare_exec_boot(config, fake.host); }, "does not say which release it is");
    config.modules = fake.dir / "lib/modules" / kRelease;
    CHECK(prepare_exec_boot(config, fake.host).release.empty());
}

TEST_CASE("exec run: the command's status, or minivmm's code for why it did not end", "[unit][exec]")
{
    agent::RunResult run;
    run.exited = agent::Exited{false, 3, 0, 0};
    run.out = "o";
    auto result = command_result(run, std::nullopt);
    CHECK(result.completed);
    CHECK(result.exit_code == 3);
    CHECK(result.out == "o");
    CHECK_FALSE(result.signal);
    run.exited = agent::Exited{true, 9, 0, 0};
    result = command_result(run, std::nullopt);
    CHECK(result.exit_code == 137);
    CHECK(result.signal == 9);

    run.exited.reset();
    run.failed = "cannot change to directory /x: No such file or directory";
    result = command_result(run, std::nullopt);
    CHECK_FALSE(result.completed);
    CHECK(result.exit_code == 125);
    CHECK(result.detail == "the guest agent failed: cannot change to directory /x: No such file or directory");

    run.failed.reset();
    run.broken = "the VM stopped";
    CHECK(command_result(run, ExitStatus::timeout()).exit_code == 124);
    CHECK(command_result(run, ExitStatus::crash("guest panicked")).exit_code == 126);
    CHECK(command_result(run, ExitStatus::signal(15)).exit_code == 143);
    CHECK(command_result(run, ExitStatus::host_failure("x")).exit_code == 125);
    result = command_result(run, ExitStatus::reboot());
    CHECK(result.exit_code == 126);
    CHECK_THAT(result.detail, Catch::Contains("the guest stopped before the command ended"));
    CHECK(command_result(run, ExitStatus::stopped()).exit_code == 125);
    run.broken = "the guest agent sent a message of unknown type 99";
    result = command_result(run, std::nullopt);
    CHECK(result.exit_code == 125);
    CHECK(result.detail == "the guest agent sent a message of unknown type 99");
}

TEST_CASE("exec run: a command's defaults are the caller's environment, directory and identity", "[unit][exec]")
{
    Command command;
    command.argv = {"ls"};
    auto request = run_request(command, "/work");
    CHECK(request.argv == std::vector<std::string>{"ls"});
    CHECK(request.cwd == "/work");
    CHECK(request.uid == ::getuid());
    CHECK(request.gid == ::getgid());
    CHECK(request.env == current_environment());
    CHECK_FALSE(request.tty);
    command.cwd = "/elsewhere";
    command.env = std::vector<std::string>{"A=1"};
    command.user = Identity{1000, 100, {27}};
    command.tty = true;
    command.rows = 50;
    command.cols = 200;
    request = run_request(command, "/work");
    CHECK(request.cwd == "/elsewhere");
    CHECK(request.env == std::vector<std::string>{"A=1"});
    CHECK(request.uid == 1000);
    CHECK(request.groups == std::vector<uint32_t>{27});
    CHECK(request.tty);
    CHECK(request.rows == 50);
    CHECK(request.cols == 200);
}
