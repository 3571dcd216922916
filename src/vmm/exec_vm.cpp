// An exec VM (<minivmm/exec.hpp>): built from the ExecConfig's boot plan (exec_boot.hpp) with
// the guest agent's ports, commands run through ExecChannel; and minivmm::exec(), one command
// in a fresh VM.
#include "vmm/exec_boot.hpp"
#include "vmm/vm_impl.hpp"

#include "console/raw_terminal.hpp"

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <optional>

extern char** environ;

namespace minivmm {

Identity Identity::current()
{
    Identity identity;
    identity.uid = ::getuid();
    identity.gid = ::getgid();
    const int n = ::getgroups(0, nullptr);
    if (n > 0) {
        std::vector<gid_t> groups(static_cast<size_t>(n));
        const int got = ::getgroups(n, groups.data());
        groups.resize(got > 0 ? static_cast<size_t>(got) : 0);
        identity.groups.assign(groups.begin(), groups.end());
    }
    return identity;
}

std::vector<std::string> current_environment()
{
    std::vector<std::string> env;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        env.emplace_back(*entry);
    }
    return env;
}

std::unique_ptr<Vm> Vm::create(const ExecConfig& config)
{
    auto boot = vmm::prepare_exec_boot(config);
    auto channel = std::make_unique<vmm::ExecChannel>();
    channel->set_default_cwd(boot.cwd);
    BuildExtras extras{std::move(boot.kernel), std::move(boot.initramfs), channel->take_device_ports()};
    auto impl = build_vm(boot.vm, std::move(extras));
    if (impl->config.seccomp) {
        channel->add_syscalls(impl->seccomp); // before start(): no thread is confined yet
    }
    impl->exec = std::move(channel);
    return std::unique_ptr<Vm>(new Vm(std::move(impl)));
}

CommandResult Vm::run(const Command& command, const CommandIo& io)
{
    if (!impl_->exec) {
        throw HostError("Vm::run() runs commands in a VM made from an ExecConfig only");
    }
    const auto request = vmm::run_request(command, impl_->exec->default_cwd());
    agent::RunIo run_io{io.stdin_fd, io.stdin_data, io.stdout_fd, io.stderr_fd, io.on_stdout, io.on_stderr};
    agent::RunResult run;
    {
        // The terminal's keys go to the command's pty as they are typed (Ctrl-C included).
        std::optional<console::RawTerminal> raw;
        if (command.tty && io.stdin_fd >= 0) {
            raw.emplace(io.stdin_fd, console::RawTerminal::Output::Raw);
        }
        run = impl_->exec->run(request, run_io);
    }
    return vmm::command_result(std::move(run), impl_->exit.get());
}

bool Vm::signal_command(int signo) { return impl_->exec && impl_->exec->signal(signo); }

void Vm::resize_terminal(uint16_t rows, uint16_t cols)
{
    if (impl_->exec) {
        impl_->exec->resize(rows, cols);
    }
}

CommandResult exec(const ExecConfig& config, const CommandIo& io)
{
    if (config.command.argv.empty() || config.command.argv.front().empty()) {
        throw ConfigError("no command to run (minivmm exec [OPTIONS] -- COMMAND [ARGS...])");
    }
    auto vm = Vm::create(config);
    vm->start();
    auto result = vm->run(config.command, io);
    vm->stop();
    const auto status = vm->wait();
    spdlog::debug("exec: the VM ended: {}", status.detail);
    return result;
}

} // namespace minivmm
