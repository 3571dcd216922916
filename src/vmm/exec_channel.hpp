// The host's side of an exec VM's guest agent: the four socket pairs whose other ends back
// the multiport virtio-console's ports (agent/agent_wire.h names them), and the AgentSession
// that runs commands over them. Vm::run() goes through here, one command at a time.
#pragma once

#include "agent/agent_session.hpp"
#include "devices/virtio/multiport_console.hpp"
#include "util/seccomp_filter.hpp"
#include "util/unique_fd.hpp"

#include <minivmm/exec.hpp>
#include <minivmm/exit_status.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace minivmm::vmm {

class ExecChannel final {
public:
    ExecChannel(); // HostError when the sockets or the eventfd cannot be made
    ExecChannel(const ExecChannel&) = delete;
    ExecChannel& operator=(const ExecChannel&) = delete;

    // The device's ends of the ports, in agent_wire.h's order; once.
    [[nodiscard]] std::vector<virtio::MultiportConsole::Port> take_device_ports();

    // Runs `request` with `io` (one at a time; others wait).
    [[nodiscard]] agent::RunResult run(const agent::RunRequest& request, agent::RunIo& io);
    // The VM ended: a run in progress returns, and later ones at once. Any thread.
    void vm_ended();
    [[nodiscard]] bool signal(int signo) { return session_->signal(signo); }
    // The directory of a command that names none (the caller's, checked against the root).
    void set_default_cwd(std::filesystem::path cwd) { default_cwd_ = std::move(cwd); }
    [[nodiscard]] const std::filesystem::path& default_cwd() const { return default_cwd_; }
    void resize(uint16_t rows, uint16_t cols) { session_->resize(rows, cols); }
    // What Vm::run() and the calls beside it make on a thread confined as the main thread
    // (Vm::confine_calling_thread(), as `minivmm exec` does): relaying stdio (poll, read,
    // write, send on the ports), SIGPIPE held back around the caller's fds, the terminal in
    // raw mode and its size (ioctl), the caller's identity when a command names none.
    void add_syscalls(util::SeccompPolicy& policy) const;

private:
    util::UniqueFd ended_; // eventfd, readable once the VM ended
    std::vector<virtio::MultiportConsole::Port> device_ports_;
    std::unique_ptr<agent::AgentSession> session_;
    std::mutex run_mutex_;
    std::filesystem::path default_cwd_ = "/";
};

// What the agent is asked to run for `command`: the defaults filled in (the caller's
// environment, directory and identity). `cwd` is used when the command names none.
[[nodiscard]] agent::RunRequest run_request(const Command& command, const std::filesystem::path& cwd);

// What a run came to, in CommandResult's terms: the command's status, or minivmm's code for
// why it did not run to its end (`vm` is the VM's exit status, if it has ended).
[[nodiscard]] CommandResult command_result(agent::RunResult run, const std::optional<ExitStatus>& vm);

} // namespace minivmm::vmm
