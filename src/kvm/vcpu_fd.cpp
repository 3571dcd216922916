#include "kvm/vcpu_fd.hpp"

#include "kvm/kvm_abi.hpp"
#include "kvm/kvm_ioctl.hpp"

#include <sys/mman.h>

#include <fmt/format.h>

#include <memory>
#include <new>
#include <utility>

namespace minivmm::kvm {

VcpuFd::VcpuFd(util::UniqueFd fd, size_t mmap_size) : fd_(std::move(fd)), mmap_size_(mmap_size)
{
    void* addr = ::mmap(nullptr, mmap_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
    if (addr == MAP_FAILED) {
        util::throw_sys_error("mmap of the vCPU's kvm_run area");
    }
    run_ = static_cast<kvm_run*>(addr);
}

VcpuFd::VcpuFd(VcpuFd&& other) noexcept
    : fd_(std::move(other.fd_)), run_(std::exchange(other.run_, nullptr)),
      mmap_size_(std::exchange(other.mmap_size_, 0))
{
}

VcpuFd::~VcpuFd()
{
    if (run_ != nullptr) {
        ::munmap(run_, mmap_size_);
    }
}

int VcpuFd::run() const
{
    if (::ioctl(fd_.get(), KVM_RUN, 0) == 0) {
        return 0;
    }
    const int err = errno;
    if (err == EINTR || err == EAGAIN) {
        return -err;
    }
    util::throw_sys_error("KVM_RUN", err);
}

std::span<uint8_t> VcpuFd::io_data() const
{
    const auto& io = run_->io;
    const uint64_t length = static_cast<uint64_t>(io.size) * io.count;
    if (io.data_offset > mmap_size_ || length > mmap_size_ - io.data_offset) {
        throw HostError(fmt::format("KVM I/O exit data {:#x}+{:#x} lies outside the kvm_run area", io.data_offset,
                                    length));
    }
    // reinterpret_cast: the kvm_run mapping is raw bytes; KVM places the data there.
    return {reinterpret_cast<uint8_t*>(run_) + io.data_offset, static_cast<size_t>(length)};
}

kvm_regs VcpuFd::regs() const
{
    kvm_regs regs{};
    MINIVMM_KVM_IOCTL(fd_.get(), KVM_GET_REGS, &regs);
    return regs;
}

void VcpuFd::set_regs(const kvm_regs& regs) const { MINIVMM_KVM_IOCTL(fd_.get(), KVM_SET_REGS, &regs); }

kvm_sregs VcpuFd::sregs() const
{
    kvm_sregs sregs{};
    MINIVMM_KVM_IOCTL(fd_.get(), KVM_GET_SREGS, &sregs);
    return sregs;
}

void VcpuFd::set_sregs(const kvm_sregs& sregs) const { MINIVMM_KVM_IOCTL(fd_.get(), KVM_SET_SREGS, &sregs); }

void VcpuFd::set_fpu(const kvm_fpu& fpu) const { MINIVMM_KVM_IOCTL(fd_.get(), KVM_SET_FPU, &fpu); }

void VcpuFd::set_cpuid(std::span<const kvm_cpuid_entry2> entries) const
{
    kvm::abi::FlexArrayBuffer<kvm_cpuid_entry2> cpuid(entries);
    kvm_ioctl(fd_.get(), kvm::abi::kSetCpuid2, "KVM_SET_CPUID2", cpuid.data());
}

void VcpuFd::set_msrs(std::span<const kvm_msr_entry> entries) const
{
    kvm::abi::FlexArrayBuffer<kvm_msr_entry> msrs(entries);
    const int written = kvm_ioctl(fd_.get(), kvm::abi::kSetMsrs, "KVM_SET_MSRS", msrs.data());
    if (static_cast<size_t>(written) != entries.size()) {
        throw HostError(fmt::format("KVM_SET_MSRS failed: KVM refused MSR {:#x} ({} of {} set)",
                                    entries[static_cast<size_t>(written)].index, written, entries.size()));
    }
}

kvm_lapic_state VcpuFd::lapic() const
{
    kvm_lapic_state lapic{};
    MINIVMM_KVM_IOCTL(fd_.get(), KVM_GET_LAPIC, &lapic);
    return lapic;
}

void VcpuFd::set_lapic(const kvm_lapic_state& lapic) const { MINIVMM_KVM_IOCTL(fd_.get(), KVM_SET_LAPIC, &lapic); }

kvm_mp_state VcpuFd::mp_state() const
{
    kvm_mp_state state{};
    MINIVMM_KVM_IOCTL(fd_.get(), KVM_GET_MP_STATE, &state);
    return state;
}

kvm_translation VcpuFd::translate(uint64_t linear_address) const
{
    kvm_translation translation{};
    translation.linear_address = linear_address;
    MINIVMM_KVM_IOCTL(fd_.get(), KVM_TRANSLATE, &translation);
    return translation;
}

} // namespace minivmm::kvm
