// The one place that wires a VM (Firecracker's builder.rs idea): validate, load the
// kernel into fresh guest RAM, then create the KVM objects, devices and vCPUs and connect
// them. Everything else receives what it needs through its constructor.
#include "vmm/vm_impl.hpp"
#include "arch/x86_64/guest_ram.hpp"

#include "acpi/acpi_tables.hpp"
#include "devices/acpi_pm.hpp"
#include "devices/boot_timer.hpp"
#include "devices/cmos_rtc.hpp"
#include "devices/debug_exit.hpp"
#include "devices/i8042.hpp"
#include "devices/ignored_ports.hpp"
#include "devices/pvpanic.hpp"
#include "devices/serial.hpp"
#include "devices/virtio/block/virtio_block.hpp"
#include "devices/virtio/virtio_console.hpp"
#include "devices/virtio/multiport_console.hpp"
#include "devices/virtio/fs/virtio_fs.hpp"
#include "devices/virtio/virtio_rng.hpp"
#include "backends/net/slirp_backend.hpp"
#include "backends/net/tap.hpp"
#include "devices/virtio/net/virtio_net.hpp"
#include "loader/kernel_loader.hpp"
#include "arch/x86_64/boot_state.hpp"
#include "arch/x86_64/cpuid.hpp"
#include "kvm/host_kvm.hpp"
#include "arch/x86_64/irq_routing.hpp"
#include "vmm/kvm_irq_line.hpp"
#include "arch/x86_64/mptable.hpp"
#include "arch/x86_64/layout.hpp"
#include "arch/x86_64/virtio_mmio_slots.hpp"
#include "vmm/exit_policy.hpp"
#include "vmm/seccomp_lists.hpp"
#include "vmm/user_net_config.hpp"
#include "vmm/virtio_cmdline.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <sys/ioctl.h>
#include <unistd.h>

namespace minivmm {
namespace {

constexpr uint32_t kLowRamSlot = 0;

void check_config(const VmConfig& config)
{
    const auto problems = config.validate();
    if (!problems.empty()) {
        throw ConfigError(fmt::format("{}", fmt::join(problems, "; ")));
    }
}

// The virtio-mmio slots, assigned once: disks, then NICs, then the console, then the guest
// agent's multiport console (an exec VM), then the shares, then the entropy device, at
// indexes 0, 1, ... (so the first disk is vda). make_virtio_devices() creates the devices in
// this order; the DSDT, the command line and the transports all read their slot from this list.
std::vector<arch::VirtioMmioSlot> assign_virtio_slots(const VmConfig& config, const BuildExtras& extras)
{
    const size_t count =
        config.disks.size() + config.nets.size() + (config.console.device == ConsoleDevice::Virtio ? 1 : 0) +
        config.shares.size() + (extras.agent_ports.empty() ? 0 : 1) + (config.rng ? 1 : 0);
    // VmConfig::validate() has refused more than arch::kMaxVirtioDevices.
    return arch::virtio_mmio_slots(static_cast<uint32_t>(count));
}

// What the ACPI tables describe besides the CPUs and COM1: the CMOS RTC, the pvpanic port
// and the virtio-mmio slots. Linux binds rtc_cmos to the PNP0B00 device; without it, on a
// hardware-reduced platform its fallback platform device fails to probe (-EINVAL) and the
// guest has no clock.
acpi::AcpiConfig acpi_config(const VmConfig& config, std::span<const arch::VirtioMmioSlot> slots)
{
    acpi::AcpiConfig acpi_config;
    acpi_config.num_cpus = config.cpus;
    acpi::AcpiDevice rtc;
    rtc.hid = "PNP0B00";
    rtc.name = "RTC_";
    rtc.io = acpi::AcpiDevice::PortRange{arch::kRtcPort, 2};
    rtc.gsi = arch::kRtcGsi;
    acpi_config.devices.push_back(rtc);
    acpi::AcpiDevice pvpanic;
    pvpanic.hid = "QEMU0001";
    pvpanic.name = "PEVT";
    pvpanic.io = acpi::AcpiDevice::PortRange{arch::kPvPanicPort, 1};
    acpi_config.devices.push_back(pvpanic);
    for (const auto& slot : slots) {
        acpi_config.devices.push_back(acpi::virtio_mmio_acpi_device(slot));
    }
    return acpi_config;
}

// Loads the kernel, initrd, command line and platform tables into RAM: everything that
// can fail because of the user's input happens here, before KVM is touched.
loader::LoadedKernel load_guest_image(const VmConfig& config, memory::GuestMemory& memory,
                                      std::span<const arch::VirtioMmioSlot> slots, const BuildExtras& extras)
{
    // Opened, not read: the loader reads each part straight to its place in guest RAM. An exec
    // VM's kernel (read already, for its release) and its initramfs (made in memory) are
    // copied from where they are.
    std::unique_ptr<loader::ImageSource> kernel_file;
    if (extras.kernel.empty()) {
        kernel_file = loader::open_image_file(config.kernel, "kernel");
    }
    const loader::ImageRef kernel =
        kernel_file ? loader::ImageRef(*kernel_file) : loader::ImageRef(extras.kernel.bytes());
    std::unique_ptr<loader::ImageSource> initrd_file;
    if (config.initrd) {
        initrd_file = loader::open_image_file(*config.initrd, "initrd");
    }
    const loader::ImageRef initrd =
        initrd_file ? loader::ImageRef(*initrd_file) : loader::ImageRef(std::as_bytes(std::span(extras.initrd)));
    std::optional<memory::GuestAddress> rsdp;
    if (config.acpi) {
        rsdp = acpi::write_acpi_tables(memory, acpi_config(config, slots));
    }
    // Devices are described twice (docs/architecture.md "How guests find devices"): in the DSDT
    // for stock kernels, on the command line for kernels without ACPI.
    const std::string cmdline = vmm::with_virtio_mmio_devices(config.cmdline, slots);
    const loader::BootSpec spec{kernel, initrd, cmdline, rsdp};
    loader::LoadedKernel loaded;
    try {
        loaded = loader::load_kernel(memory, spec);
    } catch (const ConfigError& e) {
        // Name the file: the loader only knows bytes.
        throw ConfigError(fmt::format("kernel '{}': {}", config.kernel.string(), e.what()));
    }
    [[maybe_unused]] const uint64_t mptable_size = arch::write_mptable(memory, config.cpus);
    arch::write_boot_tables(memory, loaded.format == loader::KernelFormat::BzImage ? arch::BootMode::Long64
                                                                                   : arch::BootMode::Pvh32);
    return loaded;
}

void register_memory(const kvm::VmFd& vm, const memory::GuestMemory& memory)
{
    uint32_t slot = kLowRamSlot;
    for (const auto& region : memory.regions()) {
        vm.set_user_memory_region(slot++, region.base.value(), region.size, memory.host_address_of(region));
    }
}

void add_legacy_devices(Vm::Impl& impl)
{
    auto request_exit = [&impl](ExitStatus status) { impl.request_exit(std::move(status)); };

    impl.console = std::make_unique<console::GuestConsole>(impl.config.console, request_exit);
    impl.serial = std::make_shared<devices::Serial8250>(std::make_shared<vmm::KvmIrqLine>(impl.vm, arch::kCom1Gsi),
                                               *impl.console->output());
    impl.console->connect_input(*impl.serial);
    impl.pio.add(arch::kCom1Port, 8, impl.serial, "serial (COM1)");

    auto i8042 = std::make_shared<devices::I8042>([request_exit] { request_exit(vmm::guest_reset()); });
    impl.pio.add(arch::kI8042DataPort, devices::I8042::kPortCount, i8042, "i8042");

    impl.pio.add(arch::kRtcPort, 2,
                 std::make_shared<devices::CmosRtc>(
                     std::make_shared<vmm::KvmIrqLine>(impl.vm, arch::kRtcGsi), impl.config.memory_bytes,
                     [] { return std::chrono::system_clock::now(); }, devices::CmosRtc::TimerMode::Thread,
                     [&impl] { impl.confine(util::ThreadKind::Timer); }),
                 "CMOS RTC");
    impl.pio.add(
        arch::kDebugExitPort, devices::DebugExit::kPortCount,
        std::make_shared<devices::DebugExit>([request_exit](int value) { request_exit(vmm::guest_debug_exit(value)); }),
        "debug-exit");
    if (impl.config.acpi) {
        impl.pio.add(arch::kAcpiPmPort, devices::AcpiPm::kPortCount,
                     std::make_shared<devices::AcpiPm>([request_exit] { request_exit(vmm::guest_powered_off()); },
                                              [request_exit] { request_exit(vmm::guest_reset()); }),
                     "ACPI PM");
    }
    impl.pio.add(arch::kPvPanicPort, devices::PvPanic::kPortCount, std::make_shared<devices::PvPanic>([request_exit] {
                     request_exit(vmm::guest_panicked());
                 }),
                 "pvpanic");
    devices::add_ignored_ports(impl.pio);

    impl.mmio.add(arch::kBootTimer, 0x1000, std::make_shared<devices::BootTimer>([&impl] {
                      const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - impl.created_at);
                      int64_t expected = -1;
                      if (impl.boot_time_us.compare_exchange_strong(expected, elapsed.count())) {
                          spdlog::info("guest boot timer: {:.3f} ms after start", elapsed.count() / 1000.0);
                      }
                  }),
                  "boot timer");
}

virtio::VirtioConsole::WindowSize console_window_size()
{
    winsize size{};
    if (::isatty(STDOUT_FILENO) && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0 && size.ws_row > 0) {
        return {size.ws_col, size.ws_row};
    }
    return {};
}

backends::IdMap id_map(const std::vector<ShareIdRange>& ranges)
{
    std::vector<backends::IdRange> out;
    for (const auto& r : ranges) {
        out.push_back({r.guest, r.host, r.count});
    }
    return backends::IdMap(std::move(out));
}

backends::FsOptions fs_options(const ShareConfig& share)
{
    backends::FsOptions options;
    options.root = share.path;
    options.readonly = share.readonly;
    options.cache = share.cache == ShareCache::Always  ? backends::FsCachePolicy::Always
                    : share.cache == ShareCache::Never ? backends::FsCachePolicy::Never
                                                       : backends::FsCachePolicy::Auto;
    options.uids = id_map(share.uid_map);
    options.gids = id_map(share.gid_map);
    return options;
}

using NetBackends = std::vector<std::unique_ptr<backends::PacketBackend>>;

// The TAP interfaces of the configuration, opened (or created) before KVM is touched: a
// missing TAP or a missing permission is the user's to fix, reported as one line.
NetBackends open_net_backends(const VmConfig& config)
{
    NetBackends backends;
    for (const auto& nic : config.nets) {
        if (nic.mode == NetMode::User) {
            // The stack is made and its host forwards bound now: a port in use is reported here.
            backends.push_back(std::make_unique<backends::SlirpBackend>(vmm::user_net_options(nic)));
            continue;
        }
        auto tap = nic.create ? backends::Tap::create(nic.tap) : backends::Tap::open(nic.tap);
        backends.push_back(std::make_unique<backends::Tap>(std::move(tap)));
    }
    return backends;
}

// The user-mode back ends among `nets` (one per config.nets entry), to run on the I/O thread.
std::vector<backends::SlirpBackend*> user_net_backends(const VmConfig& config, const NetBackends& nets)
{
    std::vector<backends::SlirpBackend*> user;
    for (size_t i = 0; i < config.nets.size(); ++i) {
        if (config.nets[i].mode == NetMode::User) {
            user.push_back(static_cast<backends::SlirpBackend*>(nets.at(i).get()));
        }
    }
    return user;
}

using DiskImages = std::vector<backends::DiskImage>;

// The disk images of the configuration, opened and checked (qcow2 metadata, backing chains,
// snapshot overlays) before KVM is touched: a missing, locked or broken image is one line.
DiskImages open_disk_images(const VmConfig& config)
{
    DiskImages images;
    for (const auto& disk : config.disks) {
        backends::DiskOptions options{disk.path, disk.readonly, disk.serial, disk.cache == DiskCache::None,
                                      disk.lock};
        options.format = disk.format == DiskFormat::Raw     ? backends::DiskFormat::Raw
                         : disk.format == DiskFormat::Qcow2 ? backends::DiskFormat::Qcow2
                                                            : backends::DiskFormat::Auto;
        options.snapshot = disk.snapshot;
        images.push_back(backends::DiskImage::open(options));
    }
    return images;
}

// The virtio devices in the order assign_virtio_slots() numbers them; `disks` and `nets` hold
// one image or back end per config.disks and config.nets entry.
std::vector<std::unique_ptr<virtio::VirtioDevice>> make_virtio_devices(Vm::Impl& impl, NetBackends nets,
                                                                       DiskImages disks, BuildExtras& extras)
{
    std::vector<std::unique_ptr<virtio::VirtioDevice>> devices;
    for (size_t i = 0; i < impl.config.disks.size(); ++i) {
        const DiskConfig& disk = impl.config.disks[i];
        const auto kind = disk.aio == DiskAio::IoUring ? backends::BlockBackendKind::IoUring
                          : disk.aio == DiskAio::Sync  ? backends::BlockBackendKind::Synchronous
                                                       : backends::BlockBackendKind::Auto;
        auto backend = backends::make_disk_backend(disks.at(i), virtio::VirtioBlock::kQueueSize, kind);
        devices.push_back(std::make_unique<virtio::VirtioBlock>(std::move(disks.at(i)), std::move(backend), impl.memory));
    }
    for (size_t i = 0; i < impl.config.nets.size(); ++i) {
        const NetConfig& nic = impl.config.nets[i];
        // Chosen once per VM: a guest that resets its device keeps its address.
        const auto mac = nic.mac ? backends::MacAddress(*nic.mac) : backends::MacAddress::random_local();
        auto device = std::make_unique<virtio::VirtioNet>(impl.memory, std::move(nets.at(i)), mac);
        spdlog::info("{}: MAC {}", device->name(), mac.to_string());
        devices.push_back(std::move(device));
    }
    if (impl.config.console.device == ConsoleDevice::Virtio) {
        auto console = std::make_unique<virtio::VirtioConsole>(impl.memory, impl.console->output(),
                                                                console_window_size());
        impl.console->connect_input(*console);
        devices.push_back(std::move(console));
    }
    if (!extras.agent_ports.empty()) {
        devices.push_back(std::make_unique<virtio::MultiportConsole>(impl.memory, std::move(extras.agent_ports)));
    }
    // The shares (virtio-fs) come after every other kind but the entropy device.
    for (size_t i = 0; i < impl.config.shares.size(); ++i) {
        const ShareConfig& share = impl.config.shares[i];
        devices.push_back(std::make_unique<virtio::VirtioFs>(impl.memory, share.effective_tag(i), fs_options(share),
                                                             virtio::VirtioFs::kWorkers,
                                                             impl.config.seccomp ? &impl.seccomp : nullptr));
    }
    if (impl.config.rng) {
        devices.push_back(std::make_unique<virtio::VirtioRng>(impl.memory, std::make_unique<backends::HostEntropy>()));
    }
    return devices;
}

void add_virtio_devices(Vm::Impl& impl, std::span<const arch::VirtioMmioSlot> slots, NetBackends nets,
                        DiskImages disks, BuildExtras& extras)
{
    auto devices = make_virtio_devices(impl, std::move(nets), std::move(disks), extras);
    if (devices.size() != slots.size()) {
        throw HostError(fmt::format("{} virtio devices for {} slots", devices.size(), slots.size()));
    }
    for (size_t i = 0; i < slots.size(); ++i) {
        if (impl.config.seccomp) {
            devices[i]->add_syscalls(impl.seccomp); // docs/architecture.md "Seccomp"
        }
        impl.virtio.push_back(std::make_unique<vmm::VirtioSlot>(impl.vm, impl.events, impl.memory, impl.mmio, slots[i],
                                                                std::move(devices[i])));
    }
}

void add_vcpus(Vm::Impl& impl, const loader::LoadedKernel& loaded)
{
    const auto supported = impl.kvm.supported_cpuid();
    const auto msrs = arch::boot_msrs();
    const arch::CpuidOptions cpuid_options{impl.kvm.check_extension(KVM_CAP_TSC_DEADLINE_TIMER) > 0};
    const arch::BootMode mode =
        loaded.format == loader::KernelFormat::BzImage ? arch::BootMode::Long64 : arch::BootMode::Pvh32;
    for (unsigned i = 0; i < impl.config.cpus; ++i) {
        kvm::VcpuFd fd = impl.vm.create_vcpu(i);
        fd.set_cpuid(arch::cpuid_for_vcpu(supported, i, impl.config.cpus, cpuid_options));
        fd.set_msrs(msrs);
        fd.set_fpu(arch::boot_fpu());
        auto lapic = fd.lapic();
        arch::configure_lapic_lints(lapic);
        fd.set_lapic(lapic);
        if (i == 0) {
            // The BSP starts at the kernel entry; APs wait in the in-kernel LAPIC for
            // INIT/SIPI from the guest.
            fd.set_sregs(arch::boot_sregs(mode, fd.sregs()));
            fd.set_regs(arch::boot_regs(mode, loaded.entry.value(), loaded.boot_info.value()));
        }
        impl.vcpus.push_back(std::make_unique<vcpu::Vcpu>(
            i, std::move(fd), impl.pio, impl.mmio, impl.memory,
            [&impl](const vcpu::VcpuStop& stop) { impl.request_exit(vmm::exit_status_for(stop)); }));
    }
}

} // namespace

std::unique_ptr<Vm::Impl> build_vm(const VmConfig& config, BuildExtras extras)
{
    const auto build_start = std::chrono::steady_clock::now();
    check_config(config);
    memory::GuestMemory memory = arch::create_guest_ram(
        config.memory_bytes, config.transparent_huge_pages ? memory::HugePages::Transparent : memory::HugePages::Off);
    const std::vector<arch::VirtioMmioSlot> slots = assign_virtio_slots(config, extras);
    const auto loaded = load_guest_image(config, memory, slots, extras);
    const auto image_loaded = std::chrono::steady_clock::now();
    auto nets = open_net_backends(config);
    auto disks = open_disk_images(config);
    const auto user_nets = user_net_backends(config, nets);

    kvm::Kvm kvm = kvm::Kvm::open();
    const kvm::HostKvmKind kind = kvm::detect_host_kvm_kind();
    kvm::warn_once_if_pvm(kind);
    if (config.cpus > kvm.max_vcpus()) {
        throw ConfigError(fmt::format("cpus {} is more than this host's KVM allows ({})", config.cpus,
                                      kvm.max_vcpus()));
    }
    kvm::VmFd vm = kvm.create_vm();
    vm.set_tss_address(arch::kKvmTssAddress);
    vm.set_identity_map_address(arch::kKvmIdentityMap);
    vm.create_irqchip();
    vm.set_gsi_routing(arch::pc_gsi_routing());
    vm.create_pit2();
    register_memory(vm, memory);

    auto impl = std::make_unique<Vm::Impl>(config, std::move(kvm), std::move(vm), std::move(memory));
    if (config.seccomp) {
        if (!util::seccomp_available()) {
            throw ConfigError("seccomp: this kernel cannot filter system calls (no seccomp(2) with "
                              "SECCOMP_FILTER_FLAG support); --seccomp off runs without the filter");
        }
        impl->seccomp = vmm::base_seccomp_policy(); // devices add theirs as they are made
    }
    add_legacy_devices(*impl);
    add_virtio_devices(*impl, slots, std::move(nets), std::move(disks), extras);
    for (auto* user : user_nets) {
        user->attach(impl->events); // owned by its device, which impl->events outlives
    }
    add_vcpus(*impl, loaded);
    const auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
    spdlog::debug("VM built in {:.1f} ms (guest image loaded in {:.1f} ms): {} vCPU(s), {} MiB, kernel {} ({})",
                  ms(std::chrono::steady_clock::now() - build_start), ms(image_loaded - build_start), config.cpus,
                  config.memory_bytes / kMiB, config.kernel.string(),
                  loaded.format == loader::KernelFormat::BzImage ? "bzImage" : "PVH ELF");
    return impl;
}

} // namespace minivmm
