#include "cli/exec_options.hpp"

#include "cli/parse.hpp"

#include <minivmm/exit_status.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <string_view>

namespace minivmm::cli {
namespace {

constexpr const char* kExecFooter = R"(Runs COMMAND in a fresh VM whose root is the host's own (read-only, over virtio-fs), as the
caller (user, groups, directory, environment), with minivmm's stdin, stdout and stderr as its
own (a pseudo-terminal when stdin and stdout are terminals). The kernel is the host's running
one unless --kernel says otherwise; its modules come from /lib/modules/RELEASE (RELEASE read
from the kernel image) unless --modules says otherwise. /tmp, /run and /var/tmp are the guest's
own (tmpfs); each --rw DIR is writable at the same path; everything else answers EROFS.
Exit codes:
  0-255    COMMAND's exit status; 128+N when signal N killed it; 127 not found, 126 not runnable
  124      --timeout ran out (the kernel's last messages are printed on stderr)
  125      minivmm failed: bad configuration or input, or the guest agent could not run COMMAND
           (a bad --cwd, a module or mount that failed in the guest), or a minivmm thread made
           a system call its seccomp allow-list forbids (named on stderr)
  126      the guest crashed (kernel panic), with the kernel's last messages
  128+N    minivmm was stopped by signal N (a second SIGINT, SIGTERM or SIGHUP)
A first SIGINT, SIGTERM or SIGHUP goes to COMMAND; a second one stops the VM (128+N).
The guest has no network unless --net gives it a NIC.)";

// CLI11's usage line would read "exec [OPTIONS]": say where the command goes.
class ExecFormatter final : public CLI::Formatter {
public:
    std::string make_usage(const CLI::App*, std::string) const override
    {
        return "Usage: minivmm exec [OPTIONS] [--] COMMAND [ARGS...]\n";
    }
};

PrintAndExit error_line(const std::string& message)
{
    return PrintAndExit{fmt::format("minivmm: error: {}\n", message), exit_code::kVmmFailure};
}

template <typename T, typename Target>
void apply_parsed(const Parsed<T>& parsed, Target& target, std::optional<std::string>& error)
{
    if (const auto* message = std::get_if<std::string>(&parsed)) {
        error = error.value_or(*message);
        return;
    }
    target = std::get<T>(parsed);
}

std::string_view name_of(std::string_view assignment) { return assignment.substr(0, assignment.find('=')); }

} // namespace

std::vector<std::string> apply_env(std::vector<std::string> environment, const std::vector<std::string>& overrides)
{
    for (const auto& assignment : overrides) {
        const auto name = name_of(assignment);
        std::erase_if(environment, [&](const std::string& entry) { return name_of(entry) == name; });
        environment.push_back(assignment);
    }
    return environment;
}

ExecParseResult parse_exec_options(int argc, const char* const argv[], const std::vector<std::string>& environment)
{
    ExecOptions options;
    ExecConfig& config = options.config;
    std::string kernel, modules, root = "/", cwd, mem = "512M", timeout, console_log, log_level = "warn", cmdline;
    std::string seccomp = "on";
    std::vector<std::string> rw, env, disks, nets;
    bool builtin = false, verbose = false, tty = false, no_tty = false, no_acpi = false;

    CLI::App app{"minivmm: a small, fast KVM virtual machine monitor.", "minivmm"};
    app.require_subcommand(1);
    app.set_version_flag("--version", MINIVMM_VERSION);
    auto* exec = app.add_subcommand("exec", "Run a command in a fresh VM over the host's own files");
    exec->footer(kExecFooter);
    exec->formatter(std::make_shared<ExecFormatter>());
    exec->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    exec->add_option("-k,--kernel", kernel, "Kernel: a bzImage or a PVH vmlinux")
        ->default_str("the running one, /boot/vmlinuz-$(uname -r)");
    exec->add_option("--modules", modules, "The kernel's modules (the directory with modules.dep)")
        ->default_str("/lib/modules/RELEASE, RELEASE read from the kernel");
    exec->add_flag("--builtin-drivers", builtin,
                   "The kernel has virtio-mmio, virtio-console and virtio-fs built in: load no modules");
    exec->add_option("--root", root, "Directory shared read-only as the guest's /")->default_str("/");
    exec->add_option("--rw", rw, "Directory shared writable at the same path (repeatable)")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    exec->add_option("--cwd", cwd, "Directory to run COMMAND in")->default_str("the current one");
    exec->add_option("-e,--env", env, "NAME=VALUE added to COMMAND's environment, which is the caller's (repeatable)")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    exec->add_flag("-t,--tty", tty, "Give COMMAND a pseudo-terminal even when stdin or stdout is not a terminal");
    exec->add_flag("-T,--no-tty", no_tty, "Never give COMMAND a pseudo-terminal");
    exec->add_flag("-v,--verbose", verbose, "Show the kernel's messages (on stderr) and minivmm's own");
    exec->add_option("-m,--mem", mem, "Guest RAM: a size with a K, M, G or T suffix (bare number: MiB)")
        ->default_str("512M");
    exec->add_option("--cpus", config.vm.cpus, "Number of vCPUs")->default_str("1");
    exec->add_flag("--no-acpi", no_acpi, "Leave out the ACPI tables");
    exec->add_option("--disk", disks, "virtio-blk disk (repeatable), as for minivmm --disk")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    exec->add_option("--net", nets,
                     "virtio-net NIC (repeatable), as for minivmm --net: tap=NAME or user[,...]; none by default")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    exec->add_option("--timeout", timeout, "End the run after this long (e.g. 30s, 2m) with exit code 124");
    exec->add_option("--console-log", console_log, "Write the kernel's messages to FILE (truncated first)");
    exec->add_option("--cmdline", cmdline, "More kernel parameters")->default_str("quiet");
    exec->add_option("--seccomp", seccomp,
                     "on: minivmm's threads run under seccomp allow-lists (a forbidden system call ends the run "
                     "with exit code 125, naming it); off: no filter")
        ->default_str("on");
    exec->add_option("--log-level", log_level, "minivmm's log level: trace, debug, info, warn, error, critical, off")
        ->default_str("warn");

    // The options end where the command starts: at "--", or at the first word that is
    // neither an option nor an option's value (`minivmm exec ls -l` as well as
    // `minivmm exec -- ls -l`); everything from there on is the command's, "--" included.
    std::vector<std::string> args{"exec"};
    std::vector<std::string> command;
    for (int i = 2; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--") {
            command.assign(argv + i + 1, argv + argc);
            break;
        }
        if (!arg.starts_with('-') || arg == "-") {
            command.assign(argv + i, argv + argc);
            break;
        }
        args.push_back(arg);
        const auto* option = arg.find('=') == std::string::npos ? exec->get_option_no_throw(arg) : nullptr;
        if (option != nullptr && option->get_items_expected_min() > 0 && i + 1 < argc) {
            args.emplace_back(argv[++i]);
        }
    }
    std::reverse(args.begin(), args.end()); // CLI11 takes the arguments reversed
    try {
        app.parse(args);
    } catch (const CLI::CallForHelp&) {
        return PrintAndExit{exec->help(), exit_code::kSuccess};
    } catch (const CLI::CallForAllHelp&) {
        return PrintAndExit{exec->help("", CLI::AppFormatMode::All), exit_code::kSuccess};
    } catch (const CLI::CallForVersion&) {
        return PrintAndExit{fmt::format("minivmm {}\n", MINIVMM_VERSION), exit_code::kSuccess};
    } catch (const CLI::ParseError& e) {
        return error_line(fmt::format("{} (see minivmm exec --help)", e.what()));
    }

    if (command.empty()) {
        return error_line("no command to run (minivmm exec [OPTIONS] -- COMMAND [ARGS...])");
    }
    std::optional<std::string> error;
    for (const auto& assignment : env) {
        const auto eq = assignment.find('=');
        if (eq == std::string::npos || eq == 0) {
            error = error.value_or(fmt::format("--env '{}' is not NAME=VALUE", assignment));
        }
    }
    if (tty && no_tty) {
        error = error.value_or("--tty and --no-tty contradict each other");
    }
    config.command.argv = std::move(command);
    config.command.env = apply_env(environment, env);
    if (!cwd.empty()) {
        config.command.cwd = cwd;
    }
    config.vm.kernel = kernel;
    if (!modules.empty()) {
        config.modules = modules;
    }
    config.builtin_drivers = builtin;
    config.root = root;
    config.rw.assign(rw.begin(), rw.end());
    config.vm.acpi = !no_acpi;
    apply_parsed(parse_memory_size(mem), config.vm.memory_bytes, error);
    for (const auto& disk : disks) {
        config.vm.disks.emplace_back();
        apply_parsed(parse_disk(disk), config.vm.disks.back(), error);
    }
    for (const auto& nic : nets) {
        config.vm.nets.emplace_back();
        apply_parsed(parse_net(nic), config.vm.nets.back(), error);
    }
    if (!timeout.empty()) {
        apply_parsed(parse_duration(timeout), config.vm.timeout, error);
    }
    // The kernel's messages: nowhere (kept in memory for the tail on a failure), a file, or
    // stderr with --verbose; every message when someone reads them, only errors otherwise.
    if (!console_log.empty()) {
        config.vm.console.log = console_log;
    }
    options.verbose = verbose;
    if (verbose) {
        config.vm.console.mode = ConsoleMode::Stderr;
    }
    if (exec->count("--cmdline") > 0) {
        config.vm.cmdline = cmdline;
    } else if (verbose || !console_log.empty()) {
        config.vm.cmdline = "";
    }
    if (seccomp == "on" || seccomp == "off") {
        config.vm.seccomp = seccomp == "on";
    } else {
        error = error.value_or(fmt::format("--seccomp must be on or off, not '{}'", seccomp));
    }
    options.tty = tty ? TtyMode::Always : no_tty ? TtyMode::Never : TtyMode::Auto;
    const auto level = spdlog::level::from_str(log_level);
    if (level == spdlog::level::off && log_level != "off") {
        error = error.value_or(fmt::format("log level '{}' is not one of trace, debug, info, warn, error, critical, off",
                                           log_level));
    }
    options.log_level = verbose && exec->count("--log-level") == 0 ? spdlog::level::info : level;
    if (error) {
        return error_line(*error);
    }
    return options;
}

} // namespace minivmm::cli
