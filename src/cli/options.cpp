#include "cli/options.hpp"

#include "cli/parse.hpp"

#include <minivmm/exit_status.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <vector>

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

// The values CLI11 writes into, as a command line starts: each parse starts from these.
struct CommandLineParser::Values {
    unsigned cpus = VmConfig{}.cpus;
    std::string kernel;
    std::string initrd;
    std::string cmdline;
    std::string mem = "512M";
    bool no_acpi = false;
    std::string console = "stdio";
    std::vector<std::string> disks;
    std::vector<std::string> nets;
    std::vector<std::string> shares;
    std::string timeout;
    std::string console_log;
    std::string exit_on;
    std::string fail_on;
    std::string log_level = "warn";
    std::string rng = "on";
    std::string thp = "on";
    std::string seccomp = "on";
};

CommandLineParser::CommandLineParser() : values_(std::make_unique<Values>()) { build(); }

void CommandLineParser::build()
{
    app_ = std::make_unique<CLI::App>(
        "minivmm: a small, fast KVM virtual machine monitor.\nBoots a Linux bzImage or a PVH ELF kernel.", "minivmm");
    Values& v = *values_;
    CLI::App& app = *app_;
    app.footer(kFooter);
    // A flag given twice takes its last value, so wrappers can override their defaults.
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.set_version_flag("--version", MINIVMM_VERSION);
    app.add_option("-k,--kernel", v.kernel, "Kernel: a bzImage, or an ELF vmlinux with a PVH note")->required();
    app.add_option("-i,--initrd", v.initrd, "Initial ramdisk (e.g. a gzip'd cpio initramfs)");
    cmdline_option_ = app.add_option("-c,--cmdline", v.cmdline, "Kernel command line")
        ->default_str(fmt::format("\"{}\", or \"{}\" with --console virtio", VmConfig::kDefaultCmdline,
                                  VmConfig::kDefaultVirtioConsoleCmdline));
    app.add_option("-m,--mem", v.mem, "Guest RAM: a size with a K, M, G or T suffix (bare number: MiB); >= 32M")
        ->default_str("512M");
    app.add_option("--cpus", v.cpus, "Number of vCPUs")->default_str("1");
    app.add_flag("--no-acpi", v.no_acpi, "Leave out the ACPI tables (the MP table still describes the CPUs)");
    app.add_option("--console", v.console,
                   "Guest console: [serial|virtio,]stdio|stdout|none|file:PATH. stdout: output only, stdin left "
                   "alone; virtio makes hvc0 the guest console (the UART stays for early messages)")
        ->default_str("stdio");
    app.add_option("--disk", v.disks,
                   "virtio-blk disk (repeatable): path=FILE[,readonly=on][,serial=STR][,cache=none|writeback]"
                   "[,aio=auto|io_uring|sync][,format=raw|qcow2][,snapshot=on][,lock=off]. Without format, a qcow2 header "
                   "makes it qcow2, else raw; snapshot=on sends writes to a temporary overlay deleted at exit")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    app.add_option("--net", v.nets,
                   "virtio-net NIC on a host TAP (repeatable): tap=NAME[,mac=52:54:00:xx:xx:xx][,create=on]. "
                   "create=on makes the TAP (needs CAP_NET_ADMIN) and removes it on exit; the default MAC is "
                   "random, 52:54:00:xx:xx:xx. Or user-mode networking, no privileges needed (QEMU's -netdev user): "
                   "user[,net=10.0.2.0/24][,host=10.0.2.2][,dns=10.0.2.3][,dhcpstart=10.0.2.15]"
                   "[,hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT]...[,restrict=on][,ipv6=off][,mac=MAC]; "
                   "the guest reaches the host's 127.0.0.1 at host=, restrict=on allows only that and hostfwd")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    app.add_option("--share", v.shares,
                   "Host directory shared over virtio-fs (repeatable): path=DIR[,tag=TAG][,readonly=on]"
                   "[,cache=auto|always|never][,uid=GUEST:HOST[:N]][,gid=GUEST:HOST[:N]]. Tags default to share0, "
                   "share1, ...; in the guest: mount -t virtiofs TAG /mnt")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    app.add_option("--timeout", v.timeout, "End the run after this long (e.g. 30s, 500ms, 2m) with exit code 124");
    app.add_option("--console-log", v.console_log, "Also write the console output to FILE (truncated first)");
    app.add_option("--exit-on", v.exit_on, "End the run with exit code 0 when a console line matches REGEX");
    app.add_option("--fail-on", v.fail_on, "End the run with exit code 126 when a console line matches REGEX");
    app.add_option("--log-level", v.log_level, "Log level: trace, debug, info, warn, error, critical, off")
        ->default_str("warn");
    app.add_option("--rng", v.rng,
                   "A virtio-rng device: the guest's entropy from the host's getrandom() (its CRNG is ready as soon "
                   "as the virtio_rng driver binds)")
        ->default_str("on");
    app.add_option("--thp", v.thp,
                   "Back guest RAM with transparent huge pages where the host allows them (faster boot, fewer "
                   "exits); off: 4 KiB pages, the least host memory for a guest that touches little")
        ->check(CLI::IsMember({"on", "off"}))
        ->default_str("on");
    app.add_option("--seccomp", v.seccomp,
                   "on: every minivmm thread runs under a seccomp allow-list (a forbidden system call ends the run "
                   "with exit code 125, naming it); off: no filter")
        ->default_str("on");
}

CommandLineParser::~CommandLineParser() = default;

ParseResult CommandLineParser::parse(int argc, const char* const argv[])
{
    // CLI11 (2.3) keeps a pointer per option seen in every parse (App::parse_order_, which its
    // clear() leaves): a parser used for ever grows without bound (fuzz_cli's soak reached a
    // 256 MiB vector). It is built afresh every kParsesPerBuild parses.
    if (++parses_ % kParsesPerBuild == 0) {
        build();
    }
    *values_ = Values{}; // CLI11 clears its own state of a previous parse, not the bound values
    CLI::App& app = *app_;
    const Values& v = *values_;
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

    Options options;
    options.vm.cpus = v.cpus;
    std::optional<std::string> error;
    options.vm.kernel = v.kernel;
    options.vm.acpi = !v.no_acpi;
    options.vm.transparent_huge_pages = v.thp == "on";
    if (v.rng == "on" || v.rng == "off") {
        options.vm.rng = v.rng == "on";
    } else {
        error = error.value_or(fmt::format("--rng must be on or off, not '{}'", v.rng));
    }
    if (!v.initrd.empty()) {
        options.vm.initrd = v.initrd;
    }
    apply(parse_memory_size(v.mem), options.vm.memory_bytes, error);
    apply(parse_console(v.console), options.vm.console, error);
    options.vm.cmdline = cmdline_option_->count() > 0                           ? v.cmdline
                         : options.vm.console.device == ConsoleDevice::Virtio ? VmConfig::kDefaultVirtioConsoleCmdline
                                                                              : VmConfig::kDefaultCmdline;
    for (const auto& disk : v.disks) {
        options.vm.disks.emplace_back();
        apply(parse_disk(disk), options.vm.disks.back(), error);
    }
    for (const auto& nic : v.nets) {
        options.vm.nets.emplace_back();
        apply(parse_net(nic), options.vm.nets.back(), error);
    }
    for (const auto& share : v.shares) {
        options.vm.shares.emplace_back();
        apply(parse_share(share), options.vm.shares.back(), error);
    }
    if (!v.timeout.empty()) {
        apply(parse_duration(v.timeout), options.vm.timeout, error);
    }
    if (app.count("--console-log") > 0) {
        options.vm.console.log = v.console_log;
    }
    if (app.count("--exit-on") > 0) {
        options.vm.console.exit_on = v.exit_on;
    }
    if (app.count("--fail-on") > 0) {
        options.vm.console.fail_on = v.fail_on;
    }
    if (v.seccomp == "on" || v.seccomp == "off") {
        options.vm.seccomp = v.seccomp == "on";
    } else {
        error = error.value_or(fmt::format("--seccomp must be on or off, not '{}'", v.seccomp));
    }
    const auto level = spdlog::level::from_str(v.log_level);
    if (level == spdlog::level::off && v.log_level != "off") {
        error = error.value_or(fmt::format("log level '{}' is not one of trace, debug, info, warn, error, "
                                           "critical, off", v.log_level));
    }
    options.log_level = level;
    if (error) {
        return config_error(*error);
    }
    return options;
}

ParseResult parse_options(int argc, const char* const argv[]) { return CommandLineParser{}.parse(argc, argv); }

} // namespace minivmm::cli
