#include "vmm/exec_boot.hpp"

#include "arch/x86_64/layout.hpp"
#include "backends/net/mac_address.hpp"
#include "initramfs/module_tree.hpp"
#include "loader/kernel_loader.hpp"
#include "loader/kernel_release.hpp"

#include <minivmm/error.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <system_error>

namespace minivmm::vmm {
namespace {

namespace fs = std::filesystem;

constexpr const char* kRootTag = "root";

fs::path absolute_normal(const fs::path& path, const fs::path& base)
{
    return (path.is_absolute() ? path : base / path).lexically_normal();
}

bool is_dir(const fs::path& path)
{
    std::error_code ec;
    return fs::is_directory(path, ec);
}

// `path` with its symbolic links resolved, when it exists.
fs::path resolved(const fs::path& path)
{
    std::error_code ec;
    const auto canonical = fs::canonical(path, ec);
    return ec ? path : canonical;
}

// The guest path `path` (absolute) inside the host directory `root`.
fs::path in_root(const fs::path& root, const fs::path& path) { return root / path.relative_path(); }

fs::path resolve_kernel(const ExecConfig& config, const ExecHost& host)
{
    if (!config.vm.kernel.empty()) {
        return config.vm.kernel;
    }
    if (host.running_release.empty()) {
        throw ConfigError("no kernel given (--kernel), and the host's running release is unknown");
    }
    const auto image = host.boot_dir / ("vmlinuz-" + host.running_release);
    std::error_code ec;
    if (!fs::exists(image, ec)) {
        throw ConfigError(fmt::format("no kernel given, and the running kernel {} has no image at '{}' (give --kernel)",
                                      host.running_release, image.string()));
    }
    if (::access(image.c_str(), R_OK) != 0) {
        throw ConfigError(fmt::format("no kernel given, and the running kernel's image '{}' is not readable by this "
                                      "user (give --kernel, or a readable copy)",
                                      image.string()));
    }
    return image;
}

std::vector<initramfs::KernelModule> load_modules(const ExecConfig& config, const ExecHost& host,
                                                  const std::string& release, ExecBoot& boot)
{
    if (config.builtin_drivers) {
        return {};
    }
    if (config.modules) {
        boot.modules = *config.modules;
    } else {
        if (release.empty()) {
            throw ConfigError(fmt::format("kernel '{}' does not say which release it is: give its modules with "
                                          "--modules DIR",
                                          boot.vm.kernel.string()));
        }
        boot.modules = host.modules_dir / release;
        if (!is_dir(boot.modules)) {
            throw ConfigError(fmt::format("no modules for kernel {}: '{}' is not a directory (give --modules DIR, "
                                          "or --builtin-drivers for a kernel with its drivers built in)",
                                          release, boot.modules.string()));
        }
    }
    const auto tree = initramfs::ModuleTree::open(boot.modules);
    const auto wanted = exec_modules(boot.vm);
    auto modules = tree.load(wanted, release.empty() ? std::nullopt : std::optional<std::string>(release));
    for (const auto& module : modules) {
        boot.module_names.push_back(module.name);
    }
    return modules;
}

struct Shares {
    std::vector<ShareConfig> configs;
    std::vector<initramfs::AgentShare> mounts;
};

Shares make_shares(const ExecConfig& config, const fs::path& base)
{
    const fs::path root = resolved(absolute_normal(config.root, base));
    if (!is_dir(root)) {
        throw ConfigError(fmt::format("--root '{}' is not a directory", config.root.string()));
    }
    std::vector<fs::path> writable;
    bool root_writable = false;
    for (const auto& dir : config.rw) {
        const fs::path path = resolved(absolute_normal(dir, base));
        if (!is_dir(path)) {
            throw ConfigError(fmt::format("--rw '{}' is not a directory", dir.string()));
        }
        if (path == root) {
            root_writable = true;
            continue;
        }
        // The guest sees it at the same path, which the (read-only) root must have.
        if (root != "/" && !is_dir(in_root(root, path))) {
            throw ConfigError(fmt::format("--rw '{}': the root '{}' has no directory '{}' to mount it on",
                                          dir.string(), root.string(), path.string()));
        }
        if (std::find(writable.begin(), writable.end(), path) == writable.end()) {
            writable.push_back(path);
        }
    }
    // Parents before what is inside them: a nested --rw is mounted over its parent's.
    std::sort(writable.begin(), writable.end(),
              [](const fs::path& a, const fs::path& b) { return a.string().size() < b.string().size(); });
    Shares shares;
    ShareConfig root_share;
    root_share.path = root;
    root_share.tag = kRootTag;
    root_share.readonly = !root_writable;
    shares.configs.push_back(root_share);
    shares.mounts.push_back({kRootTag, "/", root_writable});
    for (size_t i = 0; i < writable.size(); ++i) {
        ShareConfig share;
        share.path = writable[i];
        share.tag = fmt::format("rw{}", i);
        shares.configs.push_back(share);
        shares.mounts.push_back({share.tag, writable[i].string(), true});
    }
    return shares;
}

fs::path command_cwd(const ExecConfig& config, const ExecHost& host, const fs::path& root)
{
    const bool given = !config.command.cwd.empty();
    const fs::path cwd = absolute_normal(given ? config.command.cwd : host.current_dir, host.current_dir);
    if (!is_dir(in_root(root, cwd))) {
        if (given) {
            throw ConfigError(fmt::format("--cwd '{}' is not a directory in the root '{}'", config.command.cwd.string(),
                                          root.string()));
        }
        throw ConfigError(fmt::format("the current directory '{}' is not in the root '{}' (give --cwd)", cwd.string(),
                                      root.string()));
    }
    return cwd;
}

// What the agent configures on each user-mode NIC: the address the back end's DHCP server
// would hand out, and for the first NIC (one default route) the gateway and the DNS
// forwarder, as QEMU's user network defaults them (10.0.2.15/24, 10.0.2.2, 10.0.2.3). Each
// such NIC gets its MAC address here when it has none, so that the agent can find it. A TAP
// NIC is the caller's network: the agent leaves it alone.
std::vector<initramfs::AgentNic> user_net_nics(std::vector<NetConfig>& nets)
{
    std::vector<initramfs::AgentNic> nics;
    for (auto& net : nets) {
        if (net.mode != NetMode::User) {
            continue;
        }
        if (!net.mac) {
            net.mac = backends::MacAddress::random_local().bytes();
        }
        initramfs::AgentNic nic;
        nic.mac = *net.mac;
        nic.address = net.user.dhcp_start_address();
        nic.prefix_length = net.user.prefix_length;
        if (nics.empty()) {
            nic.gateway = net.user.host_address();
            nic.dns = net.user.dns_address();
        }
        nics.push_back(nic);
    }
    return nics;
}

} // namespace

ExecHost ExecHost::current()
{
    ExecHost host;
    utsname names{};
    if (::uname(&names) == 0) {
        host.running_release = names.release;
    }
    std::error_code ec;
    host.current_dir = fs::current_path(ec);
    if (ec) {
        host.current_dir = "/";
    }
    return host;
}

std::vector<initramfs::ModuleRequest> exec_modules(const VmConfig& vm)
{
    std::vector<initramfs::ModuleRequest> wanted{
        {"virtio_mmio", true}, {"virtio_console", true}, {"virtiofs", true}, {"pvpanic_mmio", false}};
    if (!vm.disks.empty()) {
        wanted.push_back({"virtio_blk", true});
    }
    if (!vm.nets.empty()) {
        wanted.push_back({"virtio_net", true});
    }
    if (vm.rng) {
        wanted.push_back({"virtio_rng", false}); // the guest's CRNG seeded at once (optional: boots without it)
    }
    return wanted;
}

std::string exec_cmdline(const std::string& extra)
{
    std::string cmdline = "console=ttyS0 reboot=k panic=-1";
    if (!extra.empty()) {
        cmdline += " " + extra;
    }
    return cmdline;
}

ExecBoot prepare_exec_boot(const ExecConfig& config, const ExecHost& host)
{
    if (config.vm.initrd) {
        throw ConfigError("an exec VM takes no --initrd: minivmm makes its own");
    }
    if (config.vm.console.mode == ConsoleMode::Stdio || config.vm.console.mode == ConsoleMode::Stdout) {
        throw ConfigError("an exec VM's console cannot use stdin or stdout (they are the command's): log it to a file "
                          "or to stderr");
    }
    if (!config.vm.shares.empty()) {
        throw ConfigError("an exec VM shares the root and the --rw directories itself: give no --share");
    }
    ExecBoot boot;
    boot.vm = config.vm;
    boot.vm.kernel = resolve_kernel(config, host);
    boot.kernel = loader::read_image_file(boot.vm.kernel, "kernel");
    boot.release = loader::kernel_release(boot.kernel.bytes()).value_or("");
    auto shares = make_shares(config, host.current_dir);
    boot.cwd = command_cwd(config, host, shares.configs.front().path);
    boot.vm.shares = std::move(shares.configs);
    // One slot for the agent's ports besides the shares (BuildExtras).
    const size_t devices = boot.vm.disks.size() + boot.vm.nets.size() + boot.vm.shares.size() + 1 +
                           (boot.vm.console.device == ConsoleDevice::Virtio ? 1 : 0) + (boot.vm.rng ? 1 : 0);
    if (devices > arch::kMaxVirtioDevices) {
        throw ConfigError(fmt::format("{} --rw directories, disks and NICs need {} virtio devices, more than the {} a "
                                      "VM has",
                                      config.rw.size(), devices, arch::kMaxVirtioDevices));
    }
    boot.vm.cmdline = exec_cmdline(config.vm.cmdline);
    initramfs::ExecInitramfs spec;
    spec.modules = load_modules(config, host, boot.release, boot);
    spec.shares = std::move(shares.mounts);
    spec.nics = user_net_nics(boot.vm.nets);
    boot.initramfs = initramfs::build_exec_initramfs(spec);
    spdlog::info("exec: kernel {} ({}), modules {} from {}, initramfs {} KiB", boot.vm.kernel.string(),
                 boot.release.empty() ? "release unknown" : boot.release, fmt::join(boot.module_names, " "),
                 boot.modules.empty() ? "(built in)" : boot.modules.string(), boot.initramfs.size() / 1024);
    return boot;
}

} // namespace minivmm::vmm
