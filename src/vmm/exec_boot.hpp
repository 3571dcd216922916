// What `minivmm exec` boots, worked out from an ExecConfig before anything runs: the kernel
// (by default the host's running one, /boot/vmlinuz-RELEASE), its release read from the image,
// the modules the guest needs from that kernel's module tree (by default
// /lib/modules/RELEASE), the shares (the root read-only as "root", each --rw directory
// writable as "rw0", "rw1", ... at the same path) and the initramfs holding the guest agent.
// Every problem is a ConfigError of one line that names it, raised before KVM is touched.
#pragma once

#include "initramfs/exec_initramfs.hpp"
#include "loader/image_file.hpp"

#include <minivmm/exec.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace minivmm::vmm {

// Where the host keeps its kernels and modules, and which kernel it runs (injectable so the
// defaults can be tested anywhere).
struct ExecHost {
    std::string running_release;               // uname -r
    std::filesystem::path boot_dir = "/boot";  // vmlinuz-RELEASE
    std::filesystem::path modules_dir = "/lib/modules";
    std::filesystem::path current_dir;         // the caller's (default --cwd)

    [[nodiscard]] static ExecHost current();
};

struct ExecBoot {
    VmConfig vm;                    // what to build: kernel resolved, shares added, cmdline complete
    loader::ImageBuffer kernel;     // vm.kernel's bytes (read once, for the release and the boot)
    std::vector<uint8_t> initramfs; // the agent, its modules and its configuration
    std::string release;            // the kernel's release ("" when the image names none)
    std::filesystem::path modules;  // the module tree used (empty with builtin_drivers)
    std::vector<std::string> module_names; // in load order
    std::filesystem::path cwd;      // the command's directory in the guest
};

// The drivers the guest needs as modules: virtio-mmio, the console ports, virtio-fs (and FUSE
// through its dependencies), pvpanic (optional: a panic is reported at once), and virtio-blk
// and virtio-net when the VM has disks or NICs.
[[nodiscard]] std::vector<initramfs::ModuleRequest> exec_modules(const VmConfig& vm);

[[nodiscard]] ExecBoot prepare_exec_boot(const ExecConfig& config, const ExecHost& host = ExecHost::current());

// The kernel command line of an exec VM: the serial console, reboot through the keyboard
// controller, panic reboots at once, then the caller's parameters.
[[nodiscard]] std::string exec_cmdline(const std::string& extra);

} // namespace minivmm::vmm
