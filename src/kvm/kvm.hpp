// RAII wrappers for the KVM system and VM file descriptors (Documentation/virt/kvm/api.rst).
#pragma once

#include "util/unique_fd.hpp"
#include "kvm/vcpu_fd.hpp"

#include <linux/kvm.h>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace minivmm::kvm {

class VmFd;

// /dev/kvm: API version 12 and the capabilities minivmm relies on, checked on open.
class Kvm final {
public:
    [[nodiscard]] static Kvm open(const char* path = "/dev/kvm");

    [[nodiscard]] int check_extension(long capability) const;
    [[nodiscard]] size_t vcpu_mmap_size() const { return vcpu_mmap_size_; }
    [[nodiscard]] unsigned max_vcpus() const;
    [[nodiscard]] std::vector<kvm_cpuid_entry2> supported_cpuid() const;
    [[nodiscard]] VmFd create_vm() const;
    [[nodiscard]] int fd() const { return fd_.get(); }

private:
    explicit Kvm(util::UniqueFd fd);
    util::UniqueFd fd_;
    size_t vcpu_mmap_size_ = 0;
};

class VmFd final {
public:
    VmFd(util::UniqueFd fd, size_t vcpu_mmap_size) : fd_(std::move(fd)), vcpu_mmap_size_(vcpu_mmap_size) {}

    void set_tss_address(uint64_t address) const;
    void set_identity_map_address(uint64_t address) const;
    void create_irqchip() const;
    void create_pit2() const;
    // The GSI -> irqchip pin table (KVM_SET_GSI_ROUTING), replacing KVM's default.
    void set_gsi_routing(std::span<const kvm_irq_routing_entry> entries) const;
    void set_user_memory_region(uint32_t slot, uint64_t guest_phys, uint64_t size, uint64_t host_address) const;
    // Level of a GSI on the in-kernel IOAPIC/PIC.
    void set_irq_line(uint32_t gsi, bool level) const;
    void register_irqfd(int event_fd, uint32_t gsi) const;
    // With `datamatch`, only writes of that value signal the eventfd.
    void register_ioeventfd(int event_fd, uint64_t address, uint32_t length, bool pio,
                            std::optional<uint64_t> datamatch = std::nullopt) const;
    [[nodiscard]] VcpuFd create_vcpu(unsigned id) const;
    [[nodiscard]] int fd() const { return fd_.get(); }

private:
    util::UniqueFd fd_;
    size_t vcpu_mmap_size_;
};

} // namespace minivmm::kvm
