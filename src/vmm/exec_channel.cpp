#include "vmm/exec_channel.hpp"

#include "backends/stream/socket_stream.hpp"
#include "util/sys_error.hpp"

#include <fmt/format.h>

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>

namespace minivmm::vmm {

ExecChannel::ExecChannel() : ended_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK))
{
    if (!ended_) {
        util::throw_sys_error("eventfd (exec)");
    }
    const std::array<const char*, 4> names{MVM_PORT_CONTROL, MVM_PORT_STDIN, MVM_PORT_STDOUT, MVM_PORT_STDERR};
    std::array<util::UniqueFd, 4> host;
    for (size_t i = 0; i < names.size(); ++i) {
        int pair[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
            util::throw_sys_error("socketpair (exec port)");
        }
        host[i] = util::UniqueFd(pair[0]);
        device_ports_.push_back({names[i], std::make_unique<backends::SocketStream>(util::UniqueFd(pair[1]))});
    }
    agent::AgentChannel channel;
    channel.control = std::move(host[0]);
    channel.stdin_port = std::move(host[1]);
    channel.stdout_port = std::move(host[2]);
    channel.stderr_port = std::move(host[3]);
    session_ = std::make_unique<agent::AgentSession>(std::move(channel), ended_.get());
}

std::vector<virtio::MultiportConsole::Port> ExecChannel::take_device_ports() { return std::move(device_ports_); }

void ExecChannel::add_syscalls(util::SeccompPolicy& policy) const
{
    policy.allow({util::ThreadKind::Main}, {"poll", "read", "write", "sendto", "rt_sigprocmask", "rt_sigtimedwait",
                                            "ioctl", "getuid", "getgid", "getgroups"});
}

agent::RunResult ExecChannel::run(const agent::RunRequest& request, agent::RunIo& io)
{
    std::lock_guard lock(run_mutex_);
    return session_->run(request, io);
}

void ExecChannel::vm_ended()
{
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(ended_.get(), &one, sizeof(one));
}

agent::RunRequest run_request(const Command& command, const std::filesystem::path& cwd)
{
    agent::RunRequest request;
    request.argv = command.argv;
    request.env = command.env ? *command.env : current_environment();
    request.cwd = (command.cwd.empty() ? cwd : command.cwd).string();
    const Identity user = command.user ? *command.user : Identity::current();
    request.uid = user.uid;
    request.gid = user.gid;
    request.groups = user.groups;
    request.tty = command.tty;
    request.rows = command.rows;
    request.cols = command.cols;
    return request;
}

CommandResult command_result(agent::RunResult run, const std::optional<ExitStatus>& vm)
{
    CommandResult result;
    result.out = std::move(run.out);
    result.err = std::move(run.err);
    if (run.exited) {
        result.completed = true;
        result.exit_code = run.exited->exit_code();
        if (run.exited->killed) {
            result.signal = static_cast<int>(run.exited->value);
        }
        return result;
    }
    if (run.failed) {
        result.exit_code = exit_code::kVmmFailure;
        result.detail = fmt::format("the guest agent failed: {}", *run.failed);
        return result;
    }
    const std::string why = run.broken.value_or("the run ended");
    if (!vm) {
        // The VM still runs: the agent broke the protocol.
        result.exit_code = exit_code::kVmmFailure;
        result.detail = why;
        return result;
    }
    switch (vm->reason) {
    case ExitReason::Timeout:
    case ExitReason::Signal:
    case ExitReason::Crash:
    case ExitReason::HostFailure:
    case ExitReason::ConsoleFailure:
        result.exit_code = vm->code;
        result.detail = vm->detail;
        break;
    case ExitReason::PowerOff:
    case ExitReason::Reboot:
    case ExitReason::DebugExit:
    case ExitReason::ConsoleMatch:
        // The guest went away under a command: a kernel panic that rebooted it, or an agent
        // that died (the kernel panics when init does).
        result.exit_code = exit_code::kGuestCrash;
        result.detail = fmt::format("the guest stopped before the command ended ({})", vm->detail);
        break;
    case ExitReason::Stopped:
        result.exit_code = exit_code::kVmmFailure;
        result.detail = fmt::format("the VM was stopped before the command ended ({})", vm->detail);
        break;
    }
    return result;
}

} // namespace minivmm::vmm
