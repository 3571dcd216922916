// [linux]: `minivmm exec` and the library's exec mode with Debian's cloud and generic kernels
// and their whole module trees as a host has them (plain, zstd- and xz-compressed), the root
// being the host's own over virtio-fs. One VM serves the library's runs; the command-line
// runs boot their own.
#include "support/file_contents.hpp"
#include "support/random_data.hpp"
#include "support/exec_guest.hpp"

#include <minivmm/minivmm.hpp>

#include <arpa/inet.h>
#include <stdlib.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <grp.h>
#include <termios.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <thread>

using namespace minivmm;
using namespace minivmm::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& path)
{
    return minivmm::test::file_contents(path);
}

// One exec VM (cloud kernel, plain modules, a scratch directory writable) for the library's runs.
// A writable scratch directory under the host's /tmp, where the guest mounts a tmpfs of its own.
struct HostTmpScratch {
    fs::path path;
    HostTmpScratch()
    {
        std::string name = "/tmp/minivmm-exec-tmp-XXXXXX";
        REQUIRE(::mkdtemp(name.data()) != nullptr);
        path = name;
    }
    ~HostTmpScratch()
    {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

struct SharedExecVm {
    ExecScratch rw{"rw"};
    HostTmpScratch tmp;
    std::unique_ptr<Vm> vm;
    std::string boot_error;
};

SharedExecVm& shared_vm()
{
    static SharedExecVm shared = [] {
        SharedExecVm s;
        auto config = cloud_exec_config();
        config.rw = {s.rw.path, s.tmp.path};
        // The VM's whole life, across every library test (boot, 10 MiB each way, ...): a
        // guard against a hang, not a measure (the nested VM on a loaded host is slow).
        config.vm.timeout = std::chrono::seconds(600);
        s.vm = Vm::create(config);
        s.vm->start();
        return s;
    }();
    return shared;
}

// Runs argv in the shared VM, in `cwd` (default: its writable scratch directory).
CommandResult run(std::vector<std::string> argv, std::string stdin_data = "", std::optional<fs::path> cwd = {})
{
    auto& shared = shared_vm();
    Command command;
    command.argv = std::move(argv);
    command.cwd = cwd.value_or(shared.rw.path);
    CommandIo io;
    io.stdin_data = std::move(stdin_data);
    auto result = shared.vm->run(command, io);
    INFO("detail: " << result.detail << "\nstderr: " << result.err << "\nconsole:\n" << shared.vm->console().tail());
    REQUIRE(result.completed);
    return result;
}

} // namespace

TEST_CASE("exec library: the guest runs the given kernel over the host's own root", "[linux][exec-vm]")
{
    if (!exec_tier_available()) {
        return;
    }
    const auto result = run({"sh", "-c", "uname -r; cat /etc/os-release"});
    CHECK(result.exit_code == 0);
    const auto release = module_tree("modules-cloud").filename().string();
    CHECK(result.out == release + "\n" + read_text("/etc/os-release"));
}

TEST_CASE("exec library: true, false and exit 3 give 0, 1 and 3", "[linux][exec-vm]")
{
    if (!exec_tier_available()) {
        return;
    }
    CHECK(run({"true"}).exit_code == 0);
    CHECK(run({"false"}).exit_code == 1);
    CHECK(run({"sh", "-c", "exit 3"}).exit_code == 3);
}

TEST_CASE("exec library: stdout and stderr stay apart", "[linux][exec-vm]")
{
    if (!exec_tier_available()) {
        return;
    }
    const auto result = run({"sh", "-c", "echo out1; echo err1 >&2; echo out2; echo err2 >&2"});
    CHECK(result.out == "out1\nout2\n");
    CHECK(result.err == "err1\nerr2\n");
}

TEST_CASE("exec library: 10 MiB of random bytes on stdout arrive with the same checksum", "[linux][exec-vm]")
{
    if (!exec_tier_available()) {
        return;
    }
    const auto data = test::random_string(10 << 20, 15);
    const auto file = shared_vm().rw.path / "random.bin";
    std::ofstream(file, std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size()));
    const auto result = run({"cat", file.string()});
    CHECK(result.exit_code == 0);
    CHECK(result.out.size() == data.size());
    CHECK(std::hash<std::string>{}(result.out) == std::hash<std::string>{}(data));
    CHECK(result.out == data);
}

TEST_CASE("exec library: 32 MiB on stdout and 4 MiB on stderr at once, in odd-sized writes, arrive whole before "
          "the exit status",
          "[linux][exec-vm]")
{
    if (!exec_tier_available()) {
        return;
    }
    // Writes of 4097 and 1000 bytes leave pipe pages part-filled: what the agent splices into
    // the ports is not page-aligned, and both ports' queues fill while the other is busy.
    const auto out = test::random_string(32 << 20, 17);
    const auto err = test::random_string(4 << 20, 18);
    const auto dir = shared_vm().rw.path;
    std::ofstream(dir / "big-out.bin", std::ios::binary).write(out.data(), static_cast<std::streamsize>(out.size()));
    std::ofstream(dir / "big-err.bin", std::ios::binary).write(err.data(), static_cast<std::streamsize>(err.size()));
    const auto result = run({"sh", "-c",
                             "dd if=big-out.bin bs=4097 status=none & dd if=big-err.bin bs=1000 status=none >&2; "
                             "wait; exit 7"});
    CHECK(result.exit_code == 7);
    CHECK(result.out.size() == out.size());
    CHECK(result.err.size() == err.size());
    CHECK(result.out == out);
    CHECK(result.err == err);
}

TEST_CASE("exec library: a writable directory under /tmp is reachable, as the working directory too",
          "[linux][exec-vm]")
{
    if (!exec_tier_available()) {
        return;
    }
    // Regression: the guest's own tmpfs on /tmp was mounted over the share, so a command run
    // from a checkout or scratch directory under /tmp failed ("cannot change to directory").
    auto& shared = shared_vm();
    const auto result = run({"sh", "-c", "pwd; echo written-in-the-guest > out.txt; ls /tmp"}, "", shared.tmp.path);
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::StartsWith(shared.tmp.path.string() + "\n"));
    CHECK(read_text(shared.tmp.path / "out.txt") == "written-in-the-guest\n");
}

TEST_CASE("exec library: stdin piped in reaches the command", "[linux][exec-vm]")
{
    if (!exec_tier_available()) {
        return;
    }
    const auto data = test::random_string(2 << 20, 16);
    const auto result = run({"cat"}, data);
    CHECK(result.exit_code == 0);
    CHECK(result.out == data);
    CHECK(run({"wc", "-c"}, "four").out == "4\n");
}

TEST_CASE("exec library: the command runs in its directory with its environment", "[linux][exec-vm]")
{
    if (!exec_tier_available()) {
        return;
    }
    auto& shared = shared_vm();
    Command command;
    command.argv = {"sh", "-c", "pwd; echo \"$GREETING\"; id -u"};
    command.cwd = shared.rw.path;
    command.env = current_environment();
    command.env->push_back("GREETING=hello from the host");
    const auto result = shared.vm->run(command);
    REQUIRE(result.completed);
    CHECK(result.out == shared.rw.path.string() + "\nhello from the host\n" + std::to_string(::getuid()) + "\n");
}

TEST_CASE("exec library: writes outside --rw fail with EROFS and /tmp is the guest's own", "[linux][exec-vm]")
{
    if (!exec_tier_available()) {
        return;
    }
    const auto etc = run({"sh", "-c", "echo x > /etc/minivmm-exec-test"});
    CHECK(etc.exit_code != 0);
    CHECK_THAT(etc.err, Catch::Contains("Read-only file system"));
    CHECK_FALSE(fs::exists("/etc/minivmm-exec-test"));
    const auto tmp = run({"sh", "-c", "echo scratch > /tmp/minivmm-exec-test && cat /tmp/minivmm-exec-test && "
                                      "stat -f -c %T /tmp"});
    CHECK(tmp.out == "scratch\ntmpfs\n");
    CHECK_FALSE(fs::exists("/tmp/minivmm-exec-test")); // the host's /tmp is not the guest's
}

TEST_CASE("exec library: a --rw directory's changes reach the host", "[linux][exec-vm]")
{
    if (!exec_tier_available()) {
        return;
    }
    const auto dir = shared_vm().rw.path;
    const auto result = run({"sh", "-c", "echo written in the guest > made.txt && mkdir sub && mv made.txt sub/"});
    CHECK(result.exit_code == 0);
    CHECK(read_text(dir / "sub/made.txt") == "written in the guest\n");
}

TEST_CASE("exec library: a missing command gives 127 and one killed by signal N 128+N", "[linux][exec-vm]")
{
    if (!exec_tier_available()) {
        return;
    }
    const auto missing = run({"no-such-command-minivmm"});
    CHECK(missing.exit_code == 127);
    CHECK_THAT(missing.err, Catch::Contains("no-such-command-minivmm: command not found"));
    const auto killed = run({"sh", "-c", "kill -KILL $$"});
    CHECK(killed.exit_code == 128 + SIGKILL);
    CHECK(killed.signal == SIGKILL);
}

TEST_CASE("exec: the generic kernel with xz-compressed modules keeps stdout and stderr apart", "[linux][exec-vm]")
{
    if (!exec_tier_available()) {
        return;
    }
    const auto argv = exec_argv("vmlinuz-generic", "modules-generic-xz", {"--timeout", "300s"},
                                {"sh", "-c", "uname -r; echo to-stderr >&2; exit 3"});
    const auto result = run_process(argv, 400s);
    INFO(Catch::Detail::stringify(argv) << "\nstderr: " << result.err);
    CHECK(result.exit_code == 3);
    CHECK(result.out == module_tree("modules-generic-xz").filename().string() + "\n");
    CHECK(result.err == "to-stderr\n");
}

namespace {

// Runs `argv` as user and group 65534 (or as ourselves when we are not root), with `stdin_data`
// on stdin. As root the child gets a mount namespace of its own in which /dev/kvm is a node it
// may open, made on a tmpfs of its own (the host's /dev/kvm stays as it is): the test needs no
// user in the kvm group.
ProcessResult run_as_nobody(const std::vector<std::string>& argv, const std::string& stdin_data)
{
    if (::getuid() != 0) {
        return run_process(argv, 400s, stdin_data);
    }
    const std::string setup = "mount --make-rprivate / && d=$(mktemp -d) && mount -t tmpfs tmpfs \"$d\" && "
                              "mknod -m 666 \"$d/kvm\" c 10 232 && mount --bind \"$d/kvm\" /dev/kvm && "
                              "exec setpriv --reuid=65534 --regid=65534 --clear-groups \"$@\"";
    std::vector<std::string> command{"/usr/bin/unshare", "-m", "/bin/sh", "-c", setup, "sh"};
    command.insert(command.end(), argv.begin(), argv.end());
    return run_process(command, 400s, stdin_data);
}

} // namespace

TEST_CASE("exec: as a non-root user with zstd modules the files made in --rw belong to that user",
          "[linux][exec-vm]")
{
    if (!exec_tier_available()) {
        return;
    }
    ExecScratch scratch("user");
    const auto rw = scratch.path / "rw";
    fs::create_directories(rw);
    const uint32_t user = ::getuid() == 0 ? 65534 : ::getuid();
    REQUIRE(::chown(rw.c_str(), user, static_cast<gid_t>(::getuid() == 0 ? 65534 : ::getgid())) == 0);
    const auto data = test::random_string(1 << 20, 17);
    const auto argv = exec_argv("vmlinuz-cloud", "modules-cloud-zst", {"--rw", rw.string(), "--cwd", rw.string(),
                                                                       "--timeout", "300s"},
                                {"sh", "-c", "id -u; cat > copy.bin; touch made-by-guest"});
    const auto result = run_as_nobody(argv, data);
    INFO(Catch::Detail::stringify(argv) << "\nstderr: " << result.err);
    CHECK(result.exit_code == 0);
    CHECK(result.out == std::to_string(user) + "\n");
    CHECK(read_text(rw / "copy.bin") == data);
    struct stat st {};
    REQUIRE(::stat((rw / "made-by-guest").c_str(), &st) == 0);
    CHECK(st.st_uid == user);
    REQUIRE(::stat((rw / "copy.bin").c_str(), &st) == 0);
    CHECK(st.st_uid == user);
}

TEST_CASE("exec: --timeout ends the run with 124 and the kernel's last messages", "[linux][exec-vm]")
{
    if (!exec_tier_available()) {
        return;
    }
    const auto argv = exec_argv("vmlinuz-cloud", "modules-cloud", {"--timeout", "45s"}, {"sleep", "1000"});
    const auto result = run_process(argv, 200s);
    INFO("stderr: " << result.err);
    CHECK(result.exit_code == 124);
    CHECK_THAT(result.err, Catch::Contains("minivmm: last 20 console lines:"));
    CHECK_THAT(result.err, Catch::Contains("minivmm: error: timeout ran out"));
    CHECK(result.out.empty());
}

namespace {

// A terminal for minivmm: reads what it printed until `text` appears (or fails after `timeout`).
struct PtySession {
    int master = -1;
    pid_t pid = -1;
    std::string seen;

    void expect(const std::string& text, std::chrono::seconds timeout = 120s)
    {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        size_t from = seen.size() > 4096 ? seen.size() - 4096 : 0;
        while (seen.find(text, from) == std::string::npos) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            INFO("waiting for '" << text << "'; the terminal showed:\n" << seen);
            REQUIRE(left.count() > 0);
            pollfd p{master, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
                continue;
            }
            char buffer[4096];
            const ssize_t n = ::read(master, buffer, sizeof(buffer));
            REQUIRE(n > 0);
            seen.append(buffer, static_cast<size_t>(n));
        }
        seen.erase(0, seen.find(text, from) + text.size());
    }
    void type(const std::string& text) { REQUIRE(::write(master, text.data(), text.size()) == static_cast<ssize_t>(text.size())); }
};

} // namespace

TEST_CASE("exec: an interactive shell on a pty of the terminal's size with Ctrl-C reaching the command",
          "[linux][exec-vm]")
{
    if (!exec_tier_available()) {
        return;
    }
    PtySession pty;
    pty.master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    REQUIRE(pty.master >= 0);
    REQUIRE(::grantpt(pty.master) == 0);
    REQUIRE(::unlockpt(pty.master) == 0);
    const std::string slave = ::ptsname(pty.master);
    const winsize size{37, 101, 0, 0};
    REQUIRE(::ioctl(pty.master, TIOCSWINSZ, &size) == 0);
    const auto argv = exec_argv("vmlinuz-cloud", "modules-cloud", {"--timeout", "300s", "--env", "PS1=guest$ "},
                                {"sh", "-i"});
    pty.pid = ::fork();
    REQUIRE(pty.pid >= 0);
    if (pty.pid == 0) {
        ::setsid();
        const int fd = ::open(slave.c_str(), O_RDWR);
        ::ioctl(fd, TIOCSCTTY, 0);
        ::dup2(fd, 0);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        std::vector<char*> args;
        for (const auto& a : argv) {
            args.push_back(const_cast<char*>(a.c_str()));
        }
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(99);
    }
    pty.expect("guest$ ");
    pty.type("stty size; tty\r");
    pty.expect("37 101\r\n");
    pty.expect("/dev/pts/");
    pty.expect("guest$ ");
    // Ctrl-C reaches the foreground command (the shell survives it): sleep is interrupted.
    pty.type("sleep 1000\r");
    std::this_thread::sleep_for(3s);
    pty.type("\x03");
    pty.expect("guest$ ");
    pty.type("echo status-$?\r");
    pty.expect("status-130\r\n");
    pty.expect("guest$ ");
    pty.type("exit 7\r");
    int status = 0;
    REQUIRE(::waitpid(pty.pid, &status, 0) == pty.pid);
    ::close(pty.master);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 7);
}

TEST_CASE("exec: the first SIGTERM to minivmm goes to the command", "[linux][exec-vm]")
{
    if (!exec_tier_available()) {
        return;
    }
    const auto argv = exec_argv("vmlinuz-cloud", "modules-cloud", {"--timeout", "300s"},
                                {"sh", "-c", "echo up; exec sleep 1000"});
    const auto result = run_process(argv, 400s, "", SignalOnOutput{"up", SIGTERM});
    INFO("stderr: " << result.err);
    CHECK(result.exit_code == 128 + SIGTERM); // the command's status: sleep was killed, not the VM
    CHECK(result.out == "up\n");
    CHECK(result.err.empty());
}

TEST_CASE("exec: when minivmm's stdout reader goes away the command gets SIGPIPE", "[linux][exec-vm]")
{
    if (!exec_tier_available()) {
        return;
    }
    std::string command;
    for (const auto& word : exec_argv("vmlinuz-cloud", "modules-cloud", {"--timeout", "300s"}, {"yes"})) {
        command += "'" + word + "' ";
    }
    // yes | head: head exits after 8 bytes; yes (in the guest) must then die of SIGPIPE.
    const auto result = run_process({"/bin/bash", "-c", command + "| head -c 8; echo \" status=${PIPESTATUS[0]}\""}, 400s);
    INFO("stderr: " << result.err);
    CHECK(result.out == "y\ny\ny\ny\n status=" + std::to_string(128 + SIGPIPE) + "\n");
}

namespace {

// A TCP server on the host's 127.0.0.1 (an ephemeral port) for one connection: reads a line,
// answers `reply` and keeps what it read. The guest reaches it as 10.0.2.2:port through slirp.
struct OneShotTcpServer {
    int listener = -1;
    uint16_t port = 0;
    std::string received;
    std::thread thread;

    explicit OneShotTcpServer(std::string reply)
    {
        listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(listener >= 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
        REQUIRE(::listen(listener, 1) == 0);
        socklen_t length = sizeof(address);
        REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) == 0);
        port = ntohs(address.sin_port);
        thread = std::thread([this, reply = std::move(reply)] {
            pollfd p{listener, POLLIN, 0};
            if (::poll(&p, 1, 300'000) != 1) {
                return;
            }
            const int connection = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
            if (connection < 0) {
                return;
            }
            char c = 0;
            while (received.size() < 256 && ::read(connection, &c, 1) == 1 && c != '\n') {
                received += c;
            }
            (void)!::write(connection, reply.data(), reply.size());
            ::close(connection);
        });
    }
    ~OneShotTcpServer()
    {
        ::shutdown(listener, SHUT_RDWR);
        if (thread.joinable()) {
            thread.join();
        }
        ::close(listener);
    }
};

} // namespace

TEST_CASE("exec --net user: the guest has 10.0.2.15/24, the route via 10.0.2.2, DNS 10.0.2.3, and reaches the host",
          "[linux][exec-vm]")
{
    if (!exec_tier_available()) {
        return;
    }
    OneShotTcpServer server("pong from the host\n");
    // bash's /dev/tcp: the host's own bash, over the root share; ip from the host's iproute2.
    const std::string script = "ip -4 -o addr show; ip -4 route show; cat /etc/resolv.conf; "
                               "exec 3<>/dev/tcp/10.0.2.2/" +
                               std::to_string(server.port) + " && echo ping from the guest >&3 && head -n 1 <&3";
    const auto argv =
        exec_argv("vmlinuz-cloud", "modules-cloud", {"--net", "user", "--timeout", "300s"}, {"/bin/bash", "-c", script});
    const auto result = run_process(argv, 400s);
    INFO(Catch::Detail::stringify(argv) << "\nstdout: " << result.out << "\nstderr: " << result.err);
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("inet 10.0.2.15/24 ") && Catch::Contains("default via 10.0.2.2 dev eth0") &&
                               Catch::Contains("nameserver 10.0.2.3\n") && Catch::EndsWith("pong from the host\n"));
    CHECK(server.received == "ping from the guest");
}
