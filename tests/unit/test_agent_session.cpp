// Both sides of the guest agent's protocol without a VM: the host's AgentSession against the
// agent's own session code (guest-agent/session.c, spawn.c, wire.c), built as an ordinary
// program (minivmm-agent-serve) serving four socket pairs in place of the virtio-console
// ports. Exit statuses, separate and binary-safe stdout/stderr, stdin to its end, working
// directory, environment, identity, signals, a pty with its size and Ctrl-C, runs in a row.
#include "support/random_data.hpp"
#include "agent/agent_session.hpp"
#include "util/unique_fd.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <thread>

using namespace minivmm;
using minivmm::util::UniqueFd;

namespace {

// The agent's session in a child process, the host's session over the other socket ends.
struct ServedAgent {
    pid_t pid = -1;
    UniqueFd abort{::eventfd(0, EFD_CLOEXEC)};
    std::unique_ptr<agent::AgentSession> session;

    ServedAgent()
    {
        std::array<std::array<int, 2>, 4> pairs{};
        for (auto& pair : pairs) {
            REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair.data()) == 0);
        }
        pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            // Out of the way of 3-6 first, then into place (dup2 clears close-on-exec).
            std::array<int, 4> high{};
            for (size_t i = 0; i < 4; ++i) {
                high[i] = ::fcntl(pairs[i][1], F_DUPFD_CLOEXEC, 100);
            }
            for (size_t i = 0; i < 4; ++i) {
                ::dup2(high[i], static_cast<int>(3 + i));
            }
            ::execl(MINIVMM_GUEST_AGENT_SERVE, "minivmm-agent-serve", static_cast<char*>(nullptr));
            ::_exit(99);
        }
        agent::AgentChannel channel;
        channel.control = UniqueFd(pairs[0][0]);
        channel.stdin_port = UniqueFd(pairs[1][0]);
        channel.stdout_port = UniqueFd(pairs[2][0]);
        channel.stderr_port = UniqueFd(pairs[3][0]);
        for (auto& pair : pairs) {
            ::close(pair[1]);
        }
        session = std::make_unique<agent::AgentSession>(std::move(channel), abort.get());
    }

    ~ServedAgent()
    {
        session.reset(); // closes the control port: the agent's session ends
        int status = 0;
        ::waitpid(pid, &status, 0);
    }

    void stop_vm() const
    {
        const uint64_t one = 1;
        CHECK(::write(abort.get(), &one, sizeof(one)) == sizeof(one));
    }
};

agent::RunRequest request(std::vector<std::string> argv)
{
    agent::RunRequest r;
    r.argv = std::move(argv);
    r.env = {"PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C"};
    r.cwd = "/";
    r.uid = ::getuid();
    r.gid = ::getgid();
    return r;
}

agent::RunResult run(ServedAgent& agent, std::vector<std::string> argv, std::string stdin_data = "")
{
    agent::RunIo io;
    io.stdin_data = std::move(stdin_data);
    return agent.session->run(request(std::move(argv)), io);
}

int exit_code(const agent::RunResult& result)
{
    INFO("failed: " << result.failed.value_or("-") << " broken: " << result.broken.value_or("-")
                    << "\nstderr: " << result.err);
    REQUIRE(result.exited);
    return result.exited->exit_code();
}

} // namespace

TEST_CASE("agent session: the command's exit status is the run's", "[unit][agent]")
{
    ServedAgent agent;
    CHECK(exit_code(run(agent, {"true"})) == 0);
    CHECK(exit_code(run(agent, {"false"})) == 1);
    CHECK(exit_code(run(agent, {"sh", "-c", "exit 3"})) == 3);
    CHECK(exit_code(run(agent, {"sh", "-c", "exit 255"})) == 255);
}

TEST_CASE("agent session: a missing command gives 127, an unrunnable one 126", "[unit][agent]")
{
    ServedAgent agent;
    const auto missing = run(agent, {"no-such-command-minivmm"});
    CHECK(exit_code(missing) == 127);
    CHECK(missing.err == "minivmm: no-such-command-minivmm: command not found\n");
    const auto directory = run(agent, {"/tmp"});
    CHECK(exit_code(directory) == 126);
    CHECK_THAT(directory.err, Catch::Contains("/tmp: Permission denied"));
}

TEST_CASE("agent session: a command killed by signal N gives 128+N", "[unit][agent]")
{
    ServedAgent agent;
    const auto result = run(agent, {"sh", "-c", "kill -TERM $$"});
    REQUIRE(result.exited);
    CHECK(result.exited->killed);
    CHECK(result.exited->value == SIGTERM);
    CHECK(exit_code(result) == 128 + SIGTERM);
}

TEST_CASE("agent session: stdout and stderr stay apart", "[unit][agent]")
{
    ServedAgent agent;
    const auto result = run(agent, {"sh", "-c", "echo out1; echo err1 >&2; echo out2; echo err2 >&2"});
    CHECK(exit_code(result) == 0);
    CHECK(result.out == "out1\nout2\n");
    CHECK(result.err == "err1\nerr2\n");
}

TEST_CASE("agent session: 10 MiB of binary output arrive intact", "[unit][agent]")
{
    const auto data = test::random_string(10 << 20, 1);
    char path[] = "/tmp/minivmm-agent-XXXXXX";
    const UniqueFd fd(::mkstemp(path));
    REQUIRE(fd);
    REQUIRE(::write(fd.get(), data.data(), data.size()) == static_cast<ssize_t>(data.size()));
    ServedAgent agent;
    const auto result = run(agent, {"cat", path});
    ::unlink(path);
    CHECK(exit_code(result) == 0);
    CHECK(result.out.size() == data.size());
    CHECK(result.out == data);
}

TEST_CASE("agent session: stdin reaches the command and then its end", "[unit][agent]")
{
    ServedAgent agent;
    const auto data = test::random_string(3 << 20, 2);
    const auto result = run(agent, {"cat"}, data);
    CHECK(exit_code(result) == 0);
    CHECK(result.out == data);
    // No stdin at all: end of file at once.
    CHECK(run(agent, {"wc", "-c"}).out == "0\n");
}

TEST_CASE("agent session: stdin from a descriptor and outputs to descriptors", "[unit][agent]")
{
    ServedAgent agent;
    int in[2];
    int out[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    const UniqueFd in_read(in[0]), out_read(out[0]);
    UniqueFd in_write(in[1]), out_write(out[1]);
    std::thread feeder([&] {
        const std::string text = "hello from a pipe\n";
        CHECK(::write(in_write.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size()));
        in_write.reset();
    });
    agent::RunIo io;
    io.stdin_fd = in_read.get();
    io.stdout_fd = out_write.get();
    const auto result = agent.session->run(request({"tr", "a-z", "A-Z"}), io);
    feeder.join();
    out_write.reset();
    std::string got(256, '\0');
    got.resize(static_cast<size_t>(::read(out_read.get(), got.data(), got.size())));
    CHECK(exit_code(result) == 0);
    CHECK(got == "HELLO FROM A PIPE\n");
    CHECK(result.out.empty());
}

TEST_CASE("agent session: working directory and environment", "[unit][agent]")
{
    ServedAgent agent;
    auto r = request({"sh", "-c", "pwd; echo \"$GREETING\""});
    r.cwd = "/tmp";
    r.env.push_back("GREETING=hello world");
    agent::RunIo io;
    const auto result = agent.session->run(r, io);
    CHECK(exit_code(result) == 0);
    CHECK(result.out == "/tmp\nhello world\n");
}

TEST_CASE("agent session: the command is looked up in its own PATH", "[unit][agent]")
{
    ServedAgent agent;
    auto r = request({"sh", "-c", "echo found"});
    r.env = {"PATH=/nonexistent"};
    agent::RunIo io;
    CHECK(exit_code(agent.session->run(r, io)) == 127);
    r.env = {"PATH=/nonexistent:/bin"};
    const auto result = agent.session->run(r, io);
    CHECK(exit_code(result) == 0);
    CHECK(result.out == "found\n");
}

TEST_CASE("agent session: a directory that does not exist fails the run", "[unit][agent]")
{
    ServedAgent agent;
    auto r = request({"true"});
    r.cwd = "/nonexistent-minivmm";
    agent::RunIo io;
    const auto result = agent.session->run(r, io);
    REQUIRE(result.failed);
    CHECK(*result.failed == "cannot change to directory /nonexistent-minivmm: No such file or directory");
    CHECK_FALSE(result.exited);
    // The session goes on.
    CHECK(exit_code(run(agent, {"true"})) == 0);
}

TEST_CASE("agent session: the command runs as the user, group and groups asked for", "[unit][agent]")
{
    if (::getuid() != 0) {
        WARN("SKIPPED: changing users needs root");
        return;
    }
    ServedAgent agent;
    auto r = request({"sh", "-c", "id -u; id -g; id -G"});
    r.uid = 65534;
    r.gid = 65534;
    r.groups = {65534, 4242};
    agent::RunIo io;
    const auto result = agent.session->run(r, io);
    CHECK(exit_code(result) == 0);
    CHECK(result.out == "65534\n65534\n65534 4242\n");
}

TEST_CASE("agent session: runs in a row do not see each other's stdin", "[unit][agent]")
{
    ServedAgent agent;
    // The first command reads none of its stdin; what is left is dropped, not handed on.
    CHECK(exit_code(run(agent, {"true"}, test::random_string(1 << 20, 3))) == 0);
    const auto second = run(agent, {"cat"}, "second\n");
    CHECK(exit_code(second) == 0);
    CHECK(second.out == "second\n");
}

TEST_CASE("agent session: a signal is forwarded to the command", "[unit][agent]")
{
    ServedAgent agent;
    std::atomic<bool> started = false;
    agent::RunIo io;
    io.on_stdout = [&](std::span<const uint8_t>) { started = true; };
    std::thread killer([&] {
        while (!started) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        agent.session->signal(SIGTERM);
    });
    const auto result = agent.session->run(request({"sh", "-c", "echo up; exec sleep 100"}), io);
    killer.join();
    CHECK(exit_code(result) == 128 + SIGTERM);
}

TEST_CASE("agent session: a caller whose stdout closed stops the command with SIGPIPE", "[unit][agent]")
{
    ServedAgent agent;
    int out[2];
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    const UniqueFd out_write(out[1]);
    ::close(out[0]);
    agent::RunIo io;
    io.stdout_fd = out_write.get();
    const auto result = agent.session->run(request({"yes"}), io);
    CHECK(exit_code(result) == 128 + SIGPIPE);
}

TEST_CASE("agent session: the VM stopping ends a run", "[unit][agent]")
{
    ServedAgent agent;
    agent::RunIo io;
    io.on_stdout = [&](std::span<const uint8_t>) { agent.stop_vm(); };
    const auto result = agent.session->run(request({"sh", "-c", "echo up; exec sleep 100"}), io);
    REQUIRE(result.broken);
    CHECK(*result.broken == "the VM stopped");
    CHECK_FALSE(agent.session->alive());
    agent::RunIo again;
    CHECK(agent.session->run(request({"true"}), again).broken);
    // The agent still has its sleeper: end it with the session (the fixture waits for the agent).
    ::kill(agent.pid, SIGKILL);
}

TEST_CASE("agent session: a pty of the asked size with Ctrl-C and a new size reaching the command", "[unit][agent]")
{
    ServedAgent agent;
    auto r = request({"sh", "-c",
                      "tty; stty size; trap 'stty size; echo resized' WINCH; trap 'echo interrupted; exit 7' INT; "
                      "echo ready; while :; do sleep 0.05; done"});
    r.tty = true;
    r.rows = 33;
    r.cols = 101;
    int in[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    const UniqueFd in_read(in[0]), in_write(in[1]);
    std::string seen;
    bool resized = false;
    bool interrupted = false;
    agent::RunIo io;
    io.stdin_fd = in_read.get();
    io.on_stdout = [&](std::span<const uint8_t> bytes) {
        seen.append(bytes.begin(), bytes.end());
        if (!resized && seen.find("ready") != std::string::npos) {
            resized = true;
            agent.session->resize(40, 120);
        }
        if (!interrupted && seen.find("resized") != std::string::npos) {
            interrupted = true;
            CHECK(::write(in_write.get(), "\x03", 1) == 1); // Ctrl-C, as a terminal sends it
        }
    };
    const auto result = agent.session->run(r, io);
    INFO(seen);
    CHECK(exit_code(result) == 7);
    CHECK_THAT(seen, Catch::StartsWith("/dev/pts/"));
    CHECK_THAT(seen, Catch::Contains("33 101\r\n"));
    CHECK_THAT(seen, Catch::Contains("40 120\r\nresized\r\n"));
    CHECK_THAT(seen, Catch::Contains("interrupted\r\n"));
    CHECK(result.err.empty());
}
