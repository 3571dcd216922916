#include "kvm/kvm.hpp"

#include "kvm/kvm_abi.hpp"
#include "kvm/kvm_ioctl.hpp"

#include <fcntl.h>

#include <fmt/format.h>

#include <memory>

namespace minivmm::kvm {
namespace {

struct RequiredCapability {
    long id;
    const char* name;
};

// What minivmm cannot run without; each is named in the error when missing.
constexpr RequiredCapability kRequiredCapabilities[] = {
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
    {KVM_CAP_HLT, "KVM_CAP_HLT"},
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
    {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
    {KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING"},
    {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"},
    {KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
    {KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE"},
};

} // namespace

Kvm Kvm::open(const char* path)
{
    util::UniqueFd fd(::open(path, O_RDWR | O_CLOEXEC));
    if (!fd) {
        const int err = errno;
        throw HostError(fmt::format("cannot open {}: {}{}", path, util::errno_text(err),
                                    err == ENOENT ? " (is KVM enabled and the kvm module loaded?)"
                                    : err == EACCES ? " (add yourself to the 'kvm' group)"
                                                    : ""));
    }
    return Kvm(std::move(fd));
}

Kvm::Kvm(util::UniqueFd fd) : fd_(std::move(fd))
{
    const int version = MINIVMM_KVM_IOCTL(fd_.get(), KVM_GET_API_VERSION);
    if (version != KVM_API_VERSION) {
        throw HostError(fmt::format("KVM API version {} is not supported (need {})", version, KVM_API_VERSION));
    }
    for (const auto& cap : kRequiredCapabilities) {
        if (check_extension(cap.id) <= 0) {
            throw HostError(fmt::format("KVM lacks a required capability: {}", cap.name));
        }
    }
    vcpu_mmap_size_ = static_cast<size_t>(MINIVMM_KVM_IOCTL(fd_.get(), KVM_GET_VCPU_MMAP_SIZE));
}

int Kvm::check_extension(long capability) const
{
    return MINIVMM_KVM_IOCTL(fd_.get(), KVM_CHECK_EXTENSION, capability);
}

unsigned Kvm::max_vcpus() const
{
    const int max = check_extension(KVM_CAP_MAX_VCPUS);
    return static_cast<unsigned>(max > 0 ? max : check_extension(KVM_CAP_NR_VCPUS));
}

std::vector<kvm_cpuid_entry2> Kvm::supported_cpuid() const
{
    // Grow the buffer until KVM stops answering E2BIG.
    for (uint32_t count = 128; count <= 4096; count *= 2) {
        kvm::abi::FlexArrayBuffer<kvm_cpuid_entry2> cpuid(count);
        if (::ioctl(fd_.get(), kvm::abi::kGetSupportedCpuid, cpuid.data()) == 0) {
            return cpuid.entries();
        }
        if (errno != E2BIG) {
            util::throw_sys_error("KVM_GET_SUPPORTED_CPUID");
        }
    }
    throw HostError("KVM_GET_SUPPORTED_CPUID failed: more than 4096 entries");
}

VmFd Kvm::create_vm() const
{
    return VmFd(util::UniqueFd(MINIVMM_KVM_IOCTL(fd_.get(), KVM_CREATE_VM, 0UL)), vcpu_mmap_size_);
}

void VmFd::set_tss_address(uint64_t address) const
{
    MINIVMM_KVM_IOCTL(fd_.get(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(address));
}

void VmFd::set_identity_map_address(uint64_t address) const
{
    MINIVMM_KVM_IOCTL(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, &address);
}

void VmFd::create_irqchip() const { MINIVMM_KVM_IOCTL(fd_.get(), KVM_CREATE_IRQCHIP); }

void VmFd::create_pit2() const
{
    kvm_pit_config config{};
    // Port 0x61 (speaker / PIT channel 2 gate) answered in-kernel, as Linux's TSC
    // calibration reads it.
    config.flags = KVM_PIT_SPEAKER_DUMMY;
    MINIVMM_KVM_IOCTL(fd_.get(), KVM_CREATE_PIT2, &config);
}

void VmFd::set_gsi_routing(std::span<const kvm_irq_routing_entry> entries) const
{
    kvm::abi::FlexArrayBuffer<kvm_irq_routing_entry> routing(entries);
    kvm_ioctl(fd_.get(), kvm::abi::kSetGsiRouting, "KVM_SET_GSI_ROUTING", routing.data());
}

void VmFd::set_user_memory_region(uint32_t slot, uint64_t guest_phys, uint64_t size, uint64_t host_address) const
{
    kvm_userspace_memory_region region{};
    region.slot = slot;
    region.guest_phys_addr = guest_phys;
    region.memory_size = size;
    region.userspace_addr = host_address;
    MINIVMM_KVM_IOCTL(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region);
}

void VmFd::set_irq_line(uint32_t gsi, bool level) const
{
    kvm_irq_level irq{};
    irq.irq = gsi;
    irq.level = level ? 1 : 0;
    MINIVMM_KVM_IOCTL(fd_.get(), KVM_IRQ_LINE, &irq);
}

void VmFd::register_irqfd(int event_fd, uint32_t gsi) const
{
    kvm_irqfd irqfd{};
    irqfd.fd = static_cast<uint32_t>(event_fd);
    irqfd.gsi = gsi;
    MINIVMM_KVM_IOCTL(fd_.get(), KVM_IRQFD, &irqfd);
}

void VmFd::register_ioeventfd(int event_fd, uint64_t address, uint32_t length, bool pio,
                              std::optional<uint64_t> datamatch) const
{
    kvm_ioeventfd ioeventfd{};
    ioeventfd.addr = address;
    ioeventfd.len = length;
    ioeventfd.fd = event_fd;
    ioeventfd.flags = pio ? KVM_IOEVENTFD_FLAG_PIO : 0;
    if (datamatch) {
        ioeventfd.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
        ioeventfd.datamatch = *datamatch;
    }
    MINIVMM_KVM_IOCTL(fd_.get(), KVM_IOEVENTFD, &ioeventfd);
}

VcpuFd VmFd::create_vcpu(unsigned id) const
{
    util::UniqueFd fd(MINIVMM_KVM_IOCTL(fd_.get(), KVM_CREATE_VCPU, static_cast<unsigned long>(id)));
    return VcpuFd(std::move(fd), vcpu_mmap_size_);
}

} // namespace minivmm::kvm
