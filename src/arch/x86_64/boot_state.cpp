#include "arch/x86_64/boot_state.hpp"

#include "arch/x86_64/layout.hpp"

#include <array>
#include <cstring>

namespace minivmm::arch {
namespace {

// Control-register and EFER bits (Intel SDM vol. 3A 2.5, 2.2.1).
constexpr uint64_t kCr0Pe = 1U << 0;
constexpr uint64_t kCr0Et = 1U << 4;
constexpr uint64_t kCr0Ne = 1U << 5;
constexpr uint64_t kCr0Pg = 1U << 31;
constexpr uint64_t kCr4Pae = 1U << 5;
constexpr uint64_t kEferLme = 1U << 8;
constexpr uint64_t kEferLma = 1U << 10;

// Page-table entry bits.
constexpr uint64_t kPtePresent = 1U << 0;
constexpr uint64_t kPteWritable = 1U << 1;
constexpr uint64_t kPtePageSize = 1U << 7;

// Descriptor flags words: G, D/B, L, AVL in the high nibble; P, DPL, S, type in the low byte.
constexpr uint16_t kCode64 = 0xa09b; // G, L, present, code execute/read accessed
constexpr uint16_t kCode32 = 0xc09b; // G, D, present, code execute/read accessed
constexpr uint16_t kData = 0xc093;   // G, D/B, present, data read/write accessed
constexpr uint16_t kTss = 0x808b;    // G, present, busy TSS

// MSR numbers (Intel SDM vol. 4).
constexpr uint32_t kMsrSysenterCs = 0x174;
constexpr uint32_t kMsrSysenterEsp = 0x175;
constexpr uint32_t kMsrSysenterEip = 0x176;
constexpr uint32_t kMsrStar = 0xc000'0081;
constexpr uint32_t kMsrLstar = 0xc000'0082;
constexpr uint32_t kMsrCstar = 0xc000'0083;
constexpr uint32_t kMsrSyscallMask = 0xc000'0084;
constexpr uint32_t kMsrKernelGsBase = 0xc000'0102;
constexpr uint32_t kMsrMiscEnable = 0x1a0;
constexpr uint32_t kMsrMtrrDefType = 0x2ff;
constexpr uint64_t kMiscEnableFastString = 1;
constexpr uint64_t kMtrrEnableWriteBack = (1U << 11) | 6; // MTRRs on, default type WB

// LAPIC register offsets and LVT delivery modes (SDM vol. 3A 10.5.1).
constexpr size_t kApicLvtLint0 = 0x350;
constexpr size_t kApicLvtLint1 = 0x360;
constexpr uint32_t kDeliveryExtInt = 7U << 8;
constexpr uint32_t kDeliveryNmi = 4U << 8;
constexpr uint32_t kDeliveryModeMask = 7U << 8;

std::array<uint64_t, 4> boot_gdt(BootMode mode)
{
    // Index = selector / 8: null, TSS (0x08), code (0x10, __BOOT_CS), data (0x18, __BOOT_DS).
    return {0, gdt_entry(kTss, 0, 0xfffff), gdt_entry(mode == BootMode::Long64 ? kCode64 : kCode32, 0, 0xfffff),
            gdt_entry(kData, 0, 0xfffff)};
}

kvm_segment segment_from_gdt(uint64_t entry, uint16_t selector)
{
    kvm_segment seg{};
    seg.base = static_cast<uint64_t>(((entry >> 16) & 0xffffff) | ((entry >> 32) & 0xff000000));
    const auto raw_limit = static_cast<uint32_t>((entry & 0xffff) | ((entry >> 32) & 0xf0000));
    seg.g = static_cast<uint8_t>((entry >> 55) & 1);
    seg.limit = seg.g != 0 ? (raw_limit << 12) | 0xfff : raw_limit;
    seg.selector = selector;
    seg.type = static_cast<uint8_t>((entry >> 40) & 0xf);
    seg.s = static_cast<uint8_t>((entry >> 44) & 1);
    seg.dpl = static_cast<uint8_t>((entry >> 45) & 3);
    seg.present = static_cast<uint8_t>((entry >> 47) & 1);
    seg.avl = static_cast<uint8_t>((entry >> 52) & 1);
    seg.l = static_cast<uint8_t>((entry >> 53) & 1);
    seg.db = static_cast<uint8_t>((entry >> 54) & 1);
    seg.unusable = seg.present != 0 ? 0 : 1;
    return seg;
}

uint32_t lapic_reg(const kvm_lapic_state& lapic, size_t offset)
{
    uint32_t value = 0;
    std::memcpy(&value, &lapic.regs[offset], sizeof(value));
    return value;
}

void set_lapic_reg(kvm_lapic_state& lapic, size_t offset, uint32_t value)
{
    std::memcpy(&lapic.regs[offset], &value, sizeof(value));
}

} // namespace

uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
    return ((static_cast<uint64_t>(base) & 0xff000000) << 32) | ((static_cast<uint64_t>(flags) & 0xf0ff) << 40) |
           ((static_cast<uint64_t>(limit) & 0xf0000) << 32) | ((static_cast<uint64_t>(base) & 0xffffff) << 16) |
           (static_cast<uint64_t>(limit) & 0xffff);
}

void write_boot_tables(memory::GuestMemory& memory, BootMode mode)
{
    const auto gdt = boot_gdt(mode);
    memory.write_obj(memory::GuestAddress(arch::kBootGdt), gdt);
    memory.write_obj(memory::GuestAddress(arch::kBootIdt), uint64_t{0});
    if (mode != BootMode::Long64) {
        return;
    }
    // Identity map of the first 1 GiB with 2 MiB pages: PML4[0] -> PDPT[0] -> PD[0..511].
    memory.write_obj(memory::GuestAddress(arch::kPml4), arch::kPdpt | kPtePresent | kPteWritable);
    memory.write_obj(memory::GuestAddress(arch::kPdpt), arch::kPd | kPtePresent | kPteWritable);
    std::array<uint64_t, 512> pd{};
    for (uint64_t i = 0; i < pd.size(); ++i) {
        pd[i] = (i << 21) | kPtePresent | kPteWritable | kPtePageSize;
    }
    memory.write_obj(memory::GuestAddress(arch::kPd), pd);
}

kvm_regs boot_regs(BootMode mode, uint64_t entry, uint64_t boot_info)
{
    kvm_regs regs{};
    regs.rflags = 0x2; // bit 1 is reserved and always set
    regs.rip = entry;
    if (mode == BootMode::Long64) {
        regs.rsi = boot_info;
        regs.rsp = arch::kBootStack;
        regs.rbp = arch::kBootStack;
    } else {
        regs.rbx = boot_info;
    }
    return regs;
}

kvm_sregs boot_sregs(BootMode mode, const kvm_sregs& base)
{
    kvm_sregs sregs = base;
    const auto gdt = boot_gdt(mode);
    sregs.gdt.base = arch::kBootGdt;
    sregs.gdt.limit = static_cast<uint16_t>(sizeof(gdt) - 1);
    sregs.idt.base = arch::kBootIdt;
    sregs.idt.limit = 0;

    sregs.cs = segment_from_gdt(gdt[arch::kBootCs / 8], arch::kBootCs);
    const kvm_segment data = segment_from_gdt(gdt[arch::kBootDs / 8], arch::kBootDs);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
    sregs.tr = segment_from_gdt(gdt[arch::kBootTss / 8], arch::kBootTss);

    if (mode == BootMode::Long64) {
        sregs.cr0 = kCr0Pe | kCr0Et | kCr0Ne | kCr0Pg;
        sregs.cr3 = arch::kPml4;
        sregs.cr4 = kCr4Pae;
        sregs.efer = kEferLme | kEferLma;
    } else {
        sregs.cr0 = kCr0Pe | kCr0Et | kCr0Ne;
        sregs.cr3 = 0;
        sregs.cr4 = 0;
        sregs.efer = 0;
    }
    return sregs;
}

kvm_fpu boot_fpu()
{
    kvm_fpu fpu{};
    fpu.fcw = 0x37f;    // x87 default control word: all exceptions masked
    fpu.mxcsr = 0x1f80; // SSE default: all exceptions masked, round to nearest
    return fpu;
}

std::vector<kvm_msr_entry> boot_msrs()
{
    auto msr = [](uint32_t index, uint64_t data) {
        kvm_msr_entry entry{};
        entry.index = index;
        entry.data = data;
        return entry;
    };
    return {
        msr(kMsrSysenterCs, 0),   msr(kMsrSysenterEsp, 0),
        msr(kMsrSysenterEip, 0),  msr(kMsrStar, 0),
        msr(kMsrCstar, 0),        msr(kMsrKernelGsBase, 0),
        msr(kMsrSyscallMask, 0),  msr(kMsrLstar, 0),
        msr(kMsrMiscEnable, kMiscEnableFastString), msr(kMsrMtrrDefType, kMtrrEnableWriteBack),
    };
}

void configure_lapic_lints(kvm_lapic_state& lapic)
{
    const uint32_t lint0 = lapic_reg(lapic, kApicLvtLint0);
    set_lapic_reg(lapic, kApicLvtLint0, (lint0 & ~kDeliveryModeMask) | kDeliveryExtInt);
    const uint32_t lint1 = lapic_reg(lapic, kApicLvtLint1);
    set_lapic_reg(lapic, kApicLvtLint1, (lint1 & ~kDeliveryModeMask) | kDeliveryNmi);
}

} // namespace minivmm::arch
