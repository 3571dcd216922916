// The CPUID a vCPU sees: KVM's supported set, adjusted per vCPU for its APIC ID and the
// VM's topology (one socket, one thread per core, `count` cores) and marked as running
// under KVM so Linux uses kvm-clock. Pure: unit-tested on synthetic tables.
#pragma once

#include <linux/kvm.h>

#include <span>
#include <vector>

namespace minivmm::arch {

struct CpuidOptions {
    // KVM_CAP_TSC_DEADLINE_TIMER: the in-kernel LAPIC has the TSC-deadline mode, but KVM
    // leaves announcing it to userspace. Without it Linux calibrates the LAPIC timer
    // against the PIT, which is slow and, under heavy host load, fails.
    bool tsc_deadline_timer = false;
};

[[nodiscard]] std::vector<kvm_cpuid_entry2> cpuid_for_vcpu(std::span<const kvm_cpuid_entry2> supported,
                                                           unsigned index, unsigned count,
                                                           const CpuidOptions& options = {});

} // namespace minivmm::arch
