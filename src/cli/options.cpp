#include "cli/options.hpp"

#include "cli/parse.hpp"

#include <minivmm/exit_status.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

namespace minivmm::cli {
namespace {

constexpr const char* kFooter = R"(Exit codes:
  0        the guest powered off or rebooted, or wrote 0 to the debug-exit port, or a
           console line matched --exit-on
  1-123    the guest wrote that value to the debug-exit port (I/O port 0xf4); a value
           of 123-255 gives 123 (124-255 are minivmm's own codes)
  124      --timeout ran out (the last console lines are printed on stderr)
  125      minivmm failed: bad configuration or input, or a KVM/device failure, or a
           disk's final fdatasync failed (whatever the guest said), or a minivmm thread
           made a system call its seccomp allow-list forbids (named on stderr)
  126      the guest crashed: triple fault, KVM internal/emulation error, guest panic;
           or a console line matched --fail-on
  128+N    minivmm was stopped by signal N
Console: with a terminal on stdin, Ctrl-A x quits and Ctrl-A Ctrl-A sends Ctrl-A.
CI: minivmm --kernel K --initrd I --console stdout --timeout 10m --fail-on 'Kernel panic'
    --cmdline '... minivmm.run="make check"' exits with the guest command's status.
Commands: minivmm exec [OPTIONS] -- COMMAND [ARGS...] runs COMMAND in a fresh VM over the
    host's own files and exits with its status (minivmm exec --help).)";

PrintAndExit config_error(const std::string& message)
{
    return PrintAndExit{fmt::format("minivmm: error: {}\n", message), exit_code::kVmmFailure};
}

// Applies a Parsed<T> to `target`, or records the first error.
template <typename T, typename Target>
void apply(const Parsed<T>& parsed, Target& target, std::optional<std::string>& error)
{
    if (const auto* message = std::get_if<std::string>(&parsed)) {
        if (!error) {
            error = *message;
        }
        return;
    }
    target = std::get<T>(parsed);
}

} // namespace

ParseResult parse_options(int argc, const char* const argv[])
{
    Options options;
    std::string kernel;
    std::string initrd;
    std::string mem = "512M";
    std::string console = "stdio";
    std::string timeout;
    std::string log_level = "warn";

    CLI::App app{"minivmm: a small, fast KVM virtual machine monitor.\nBoots a Linux bzImage or a PVH ELF kernel.",
                 "minivmm"};
    app.footer(kFooter);
    // A flag given twice takes its last value, so wrappers can override their defaults.
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.set_version_flag("--version", MINIVMM_VERSION);
    app.add_option("-k,--kernel", kernel, "Kernel: a bzImage, or an ELF vmlinux with a PVH note")->required();
    app.add_option("-i,--initrd", initrd, "Initial ramdisk (e.g. a gzip'd cpio initramfs)");
    std::string cmdline;
    auto* cmdline_option = app.add_option("-c,--cmdline", cmdline, "Kernel command line")
        ->default_str(fmt::format("\"{}\", or \"{}\" with --console virtio", VmConfig::kDefaultCmdline,
                                  VmConfig::kDefaultVirtioConsoleCmdline));
    app.add_option("-m,--mem", mem, "Guest RAM: a size with a K, M, G or T suffix (bare number: MiB); >= 32M")
        ->default_str("512M");
    app.add_option("--cpus", options.vm.cpus, "Number of vCPUs")->default_str("1");
    bool no_acpi = false;
    app.add_flag("--no-acpi", no_acpi, "Leave out the ACPI tables (the MP table still describes the CPUs)");
    app.add_option("--console", console,
                   "Guest console: [serial|virtio,]stdio|stdout|none|file:PATH. stdout: output only, stdin left "
                   "alone; virtio makes hvc0 the guest console (the UART stays for early messages)")
        ->default_str("stdio");
    std::vector<std::string> disks;
    app.add_option("--disk", disks,
                   "virtio-blk disk (repeatable): path=FILE[,readonly=on][,serial=STR][,cache=none|writeback]"
                   "[,aio=auto|io_uring|sync][,format=raw|qcow2][,snapshot=on][,lock=off]. Without format, a qcow2 header "
                   "makes it qcow2, else raw; snapshot=on sends writes to a temporary overlay deleted at exit")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    std::vector<std::string> nets;
    app.add_option("--net", nets,
                   "virtio-net NIC on a host TAP (repeatable): tap=NAME[,mac=52:54:00:xx:xx:xx][,create=on]. "
                   "create=on makes the TAP (needs CAP_NET_ADMIN) and removes it on exit; the default MAC is "
                   "random, 52:54:00:xx:xx:xx. Or user-mode networking, no privileges needed (QEMU's -netdev user): "
                   "user[,net=10.0.2.0/24][,host=10.0.2.2][,dns=10.0.2.3][,dhcpstart=10.0.2.15]"
                   "[,hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT]...[,restrict=on][,ipv6=off][,mac=MAC]; "
                   "the guest reaches the host's 127.0.0.1 at host=, restrict=on allows only that and hostfwd")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    std::vector<std::string> shares;
    app.add_option("--share", shares,
                   "Host directory shared over virtio-fs (repeatable): path=DIR[,tag=TAG][,readonly=on]"
                   "[,cache=auto|always|never][,uid=GUEST:HOST[:N]][,gid=GUEST:HOST[:N]]. Tags default to share0, "
                   "share1, ...; in the guest: mount -t virtiofs TAG /mnt")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    app.add_option("--timeout", timeout, "End the run after this long (e.g. 30s, 500ms, 2m) with exit code 124");
    std::string console_log;
    app.add_option("--console-log", console_log, "Also write the console output to FILE (truncated first)");
    std::string exit_on;
    app.add_option("--exit-on", exit_on, "End the run with exit code 0 when a console line matches REGEX");
    std::string fail_on;
    app.add_option("--fail-on", fail_on, "End the run with exit code 126 when a console line matches REGEX");
    app.add_option("--log-level", log_level, "Log level: trace, debug, info, warn, error, critical, off")
        ->default_str("warn");
    std::string rng = "on";
    app.add_option("--rng", rng,
                   "A virtio-rng device: the guest's entropy from the host's getrandom() (its CRNG is ready as soon "
                   "as the virtio_rng driver binds)")
        ->default_str("on");
    std::string thp = "on";
    app.add_option("--thp", thp,
                   "Back guest RAM with transparent huge pages where the host allows them (faster boot, fewer "
                   "exits); off: 4 KiB pages, the least host memory for a guest that touches little")
        ->check(CLI::IsMember({"on", "off"}))
        ->default_str("on");
    std::string seccomp = "on";
    app.add_option("--seccomp", seccomp,
                   "on: every minivmm thread runs under a seccomp allow-list (a forbidden system call ends the run "
                   "with exit code 125, naming it); off: no filter")
        ->default_str("on");

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        return PrintAndExit{app.help(), exit_code::kSuccess};
    } catch (const CLI::CallForAllHelp&) {
        return PrintAndExit{app.help("", CLI::AppFormatMode::All), exit_code::kSuccess};
    } catch (const CLI::CallForVersion&) {
        return PrintAndExit{fmt::format("minivmm {}\n", MINIVMM_VERSION), exit_code::kSuccess};
    } catch (const CLI::ParseError& e) {
        return config_error(fmt::format("{} (see --help)", e.what()));
    }

    std::optional<std::string> error;
    options.vm.kernel = kernel;
    options.vm.acpi = !no_acpi;
    options.vm.transparent_huge_pages = thp == "on";
    if (rng == "on" || rng == "off") {
        options.vm.rng = rng == "on";
    } else {
        error = error.value_or(fmt::format("--rng must be on or off, not '{}'", rng));
    }
    if (!initrd.empty()) {
        options.vm.initrd = initrd;
    }
    apply(parse_memory_size(mem), options.vm.memory_bytes, error);
    apply(parse_console(console), options.vm.console, error);
    options.vm.cmdline = cmdline_option->count() > 0                           ? cmdline
                         : options.vm.console.device == ConsoleDevice::Virtio ? VmConfig::kDefaultVirtioConsoleCmdline
                                                                              : VmConfig::kDefaultCmdline;
    for (const auto& disk : disks) {
        options.vm.disks.emplace_back();
        apply(parse_disk(disk), options.vm.disks.back(), error);
    }
    for (const auto& nic : nets) {
        options.vm.nets.emplace_back();
        apply(parse_net(nic), options.vm.nets.back(), error);
    }
    for (const auto& share : shares) {
        options.vm.shares.emplace_back();
        apply(parse_share(share), options.vm.shares.back(), error);
    }
    if (!timeout.empty()) {
        apply(parse_duration(timeout), options.vm.timeout, error);
    }
    if (app.count("--console-log") > 0) {
        options.vm.console.log = console_log;
    }
    if (app.count("--exit-on") > 0) {
        options.vm.console.exit_on = exit_on;
    }
    if (app.count("--fail-on") > 0) {
        options.vm.console.fail_on = fail_on;
    }
    if (seccomp == "on" || seccomp == "off") {
        options.vm.seccomp = seccomp == "on";
    } else {
        error = error.value_or(fmt::format("--seccomp must be on or off, not '{}'", seccomp));
    }
    const auto level = spdlog::level::from_str(log_level);
    if (level == spdlog::level::off && log_level != "off") {
        error = error.value_or(fmt::format("log level '{}' is not one of trace, debug, info, warn, error, "
                                           "critical, off", log_level));
    }
    options.log_level = level;
    if (error) {
        return config_error(*error);
    }
    return options;
}

} // namespace minivmm::cli
