// The architectural state a vCPU starts in, for each boot protocol:
//  - Linux 64-bit boot protocol (Documentation/arch/x86/boot.rst "64-bit Boot Protocol"):
//    long mode, paging with an identity map, __BOOT_CS/__BOOT_DS flat segments, %rsi =
//    boot_params;
//  - PVH (xen/include/public/arch-x86/hvm/start_info.h, "PVH entry"): 32-bit protected
//    mode, paging off, flat segments, %ebx = hvm_start_info.
// Pure functions on GuestMemory and KVM structs, so they are unit-tested without KVM.
#pragma once

#include "memory/guest_memory.hpp"

#include <linux/kvm.h>

#include <vector>

namespace minivmm::arch {

enum class BootMode { Long64, Pvh32 };

// Writes the boot GDT, the empty IDT and (for Long64) the identity page tables.
void write_boot_tables(memory::GuestMemory& memory, BootMode mode);

[[nodiscard]] kvm_regs boot_regs(BootMode mode, uint64_t entry, uint64_t boot_info);
// `base` is the vCPU's current sregs (KVM fills in fields we don't own, e.g. apic_base).
[[nodiscard]] kvm_sregs boot_sregs(BootMode mode, const kvm_sregs& base);
[[nodiscard]] kvm_fpu boot_fpu();
[[nodiscard]] std::vector<kvm_msr_entry> boot_msrs();
// LINT0 as ExtINT (the PIC's output), LINT1 as NMI, as a PC BIOS leaves them.
void configure_lapic_lints(kvm_lapic_state& lapic);

// A GDT entry from base, limit and the flags/access word in descriptor bit layout.
[[nodiscard]] uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit);

} // namespace minivmm::arch
