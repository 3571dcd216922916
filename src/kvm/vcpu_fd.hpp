// RAII wrapper for one KVM vCPU: its fd and its shared `kvm_run` mapping.
#pragma once

#include "util/unique_fd.hpp"

#include <linux/kvm.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace minivmm::kvm {

class VcpuFd final {
public:
    VcpuFd(util::UniqueFd fd, size_t mmap_size);
    VcpuFd(const VcpuFd&) = delete;
    VcpuFd& operator=(const VcpuFd&) = delete;
    VcpuFd(VcpuFd&& other) noexcept;
    VcpuFd& operator=(VcpuFd&&) = delete;
    ~VcpuFd();

    // KVM_RUN: returns 0, or -errno for EINTR/EAGAIN (the caller decides); throws otherwise.
    [[nodiscard]] int run() const;
    [[nodiscard]] kvm_run& run_state() const { return *run_; }
    // The bytes of an I/O exit's data area inside the kvm_run page (bounds-checked).
    [[nodiscard]] std::span<uint8_t> io_data() const;

    [[nodiscard]] kvm_regs regs() const;
    void set_regs(const kvm_regs& regs) const;
    [[nodiscard]] kvm_sregs sregs() const;
    void set_sregs(const kvm_sregs& sregs) const;
    void set_fpu(const kvm_fpu& fpu) const;
    void set_cpuid(std::span<const kvm_cpuid_entry2> entries) const;
    void set_msrs(std::span<const kvm_msr_entry> entries) const;
    [[nodiscard]] kvm_lapic_state lapic() const;
    void set_lapic(const kvm_lapic_state& lapic) const;
    [[nodiscard]] kvm_mp_state mp_state() const;
    // Guest-virtual to guest-physical, with the vCPU's current paging (KVM_TRANSLATE).
    [[nodiscard]] kvm_translation translate(uint64_t linear_address) const;
    [[nodiscard]] int fd() const { return fd_.get(); }

private:
    util::UniqueFd fd_;
    kvm_run* run_ = nullptr;
    size_t mmap_size_ = 0;
};

} // namespace minivmm::kvm
