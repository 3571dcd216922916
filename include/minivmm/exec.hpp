// Running a command in a fresh VM over the host's own files: what `minivmm exec -- COMMAND`
// does, as a library call. The VM boots a kernel (by default the host's own) with an
// initramfs minivmm makes in memory: its guest agent as /init and the kernel modules the
// guest needs. The agent mounts the host's root read-only over virtio-fs (each ExecConfig::rw
// directory writable at the same path; /tmp, /run and /var/tmp are the guest's own tmpfs),
// runs the command as the caller (same user, groups, directory and environment) and carries
// its stdin, stdout and stderr over virtio-console ports.
//
//   minivmm::ExecConfig config;
//   config.command.argv = {"make", "check"};
//   config.rw = {std::filesystem::current_path()};
//   const auto result = minivmm::exec(config);       // stdout and stderr in result.out/.err
//   return result.exit_code;
//
// Further commands in one VM: Vm::create(ExecConfig), start(), then Vm::run() for each.
#pragma once

#include <minivmm/exit_status.hpp>
#include <minivmm/vm_config.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace minivmm {

// Who a command runs as in the guest.
struct Identity {
    uint32_t uid = 0;
    uint32_t gid = 0;
    std::vector<uint32_t> groups; // supplementary groups

    // The calling process's real user and group and its supplementary groups.
    [[nodiscard]] static Identity current();
};

struct Command {
    std::vector<std::string> argv; // argv[0] is looked up in the PATH of `env`, as a shell would
    // NAME=VALUE; nullopt: the calling process's environment.
    std::optional<std::vector<std::string>> env;
    // The guest directory to run in; empty: the calling process's current directory.
    std::filesystem::path cwd;
    std::optional<Identity> user; // nullopt: Identity::current()
    // Run on a pseudo-terminal of rows x cols: stdin, stdout and stderr are the terminal (as
    // `ssh -t`, `docker run -t`), and the terminal's control characters (Ctrl-C) work.
    bool tty = false;
    uint16_t rows = 24;
    uint16_t cols = 80;
};

// Where a command's stdio come from and go to. Output goes to its descriptor if it has one,
// else to its callback if it has one, else into CommandResult::out/err.
struct CommandIo {
    int stdin_fd = -1;      // read to its end; -1: stdin_data is the whole stdin
    std::string stdin_data;
    int stdout_fd = -1;
    int stderr_fd = -1;
    std::function<void(std::span<const uint8_t>)> on_stdout; // called on the thread in run()/exec()
    std::function<void(std::span<const uint8_t>)> on_stderr;
};

struct CommandResult {
    // The command's exit status, 128 + N when signal N killed it, 127 when it was not found;
    // or, when it did not run to its end (completed false), minivmm's code for why: 124 the
    // timeout ran out, 125 minivmm or the guest agent failed (bad directory or user, a module
    // or mount that failed at boot), 126 the guest crashed, 128+N minivmm was stopped by signal N.
    int exit_code = 0;
    bool completed = false;
    std::optional<int> signal; // the signal that killed the command
    std::string detail;        // one line for humans when not completed
    std::string out;           // captured stdout and stderr (see CommandIo)
    std::string err;
};

struct ExecConfig {
    // The machine an exec VM is unless told otherwise: the kernel's messages kept in memory
    // only (ConsoleMode::None: stdout is the command's), and "quiet" as the kernel's extra
    // parameters.
    [[nodiscard]] static VmConfig default_vm()
    {
        VmConfig vm;
        vm.cmdline = "quiet";
        vm.console.mode = ConsoleMode::None;
        return vm;
    }

    // The machine: memory, cpus, disks, nets, timeout, console (the kernel's messages: kept in
    // memory, and written where console.mode/log say: None, Stderr or File; stdio is the
    // command's). kernel empty: the host's running kernel, /boot/vmlinuz-RELEASE. initrd and
    // shares stay empty: minivmm makes its own. cmdline: the kernel's parameters besides
    // minivmm's own (console=ttyS0 reboot=k panic=-1).
    VmConfig vm = default_vm();
    // The kernel's modules; nullopt: /lib/modules/RELEASE, RELEASE read from the kernel image.
    std::optional<std::filesystem::path> modules;
    // The kernel has the drivers built in (virtio-mmio, virtio-console, virtio-fs): no modules.
    bool builtin_drivers = false;
    std::filesystem::path root = "/";           // shared read-only as the guest's /
    std::vector<std::filesystem::path> rw;      // shared writable at the same paths
    Command command;                            // what exec() runs
};

// Boots a VM for `config`, runs config.command in it and ends the VM. Throws ConfigError for
// bad input (no kernel found, modules missing for that kernel, a directory that is not one,
// --cwd outside the root) before the VM starts; everything after that ends in the result.
[[nodiscard]] CommandResult exec(const ExecConfig& config, const CommandIo& io = {});

// The calling process's environment, NAME=VALUE each.
[[nodiscard]] std::vector<std::string> current_environment();

} // namespace minivmm
