#include "arch/x86_64/boot_state.hpp"
#include "arch/x86_64/guest_ram.hpp"
#include <minivmm/vm_config.hpp>
#include "arch/x86_64/cpuid.hpp"
#include "arch/x86_64/layout.hpp"

#include <catch2/catch.hpp>

#include <cstring>

using namespace minivmm;

namespace {

kvm_cpuid_entry2 leaf(uint32_t function, uint32_t index = 0)
{
    kvm_cpuid_entry2 e{};
    e.function = function;
    e.index = index;
    return e;
}

const kvm_cpuid_entry2& find(const std::vector<kvm_cpuid_entry2>& entries, uint32_t function, uint32_t index = 0)
{
    for (const auto& e : entries) {
        if (e.function == function && e.index == index) {
            return e;
        }
    }
    FAIL("leaf not found");
    throw;
}

} // namespace

TEST_CASE("CPUID carries each vCPU's APIC ID and the topology", "[unit][cpuid]")
{
    std::vector<kvm_cpuid_entry2> supported{leaf(0x1), leaf(0xb, 0), leaf(0xb, 1), leaf(0x4000'0000)};
    supported[0].ebx = 0xff00'0800; // a host APIC ID that must not leak through
    for (unsigned i : {0U, 1U, 3U}) {
        const auto entries = arch::cpuid_for_vcpu(supported, i, 4);
        const auto& features = find(entries, 0x1);
        CHECK((features.ebx >> 24) == i);
        CHECK(((features.ebx >> 16) & 0xff) == 4);
        CHECK((features.ebx & 0xffff) == 0x0800);
        CHECK((features.ecx & (1U << 31)) != 0); // hypervisor present
        CHECK(find(entries, 0xb, 0).edx == i);
        CHECK(find(entries, 0xb, 1).ebx == 4);
        CHECK(find(entries, 0xb, 1).eax == 2); // 2 bits of APIC ID for 4 cores
    }
}

TEST_CASE("CPUID announces the TSC-deadline timer only when KVM has it", "[unit][cpuid]")
{
    std::vector<kvm_cpuid_entry2> supported{leaf(0x1)};
    CHECK((find(arch::cpuid_for_vcpu(supported, 0, 1), 0x1).ecx & (1U << 24)) == 0);
    CHECK((find(arch::cpuid_for_vcpu(supported, 0, 1, {.tsc_deadline_timer = true}), 0x1).ecx & (1U << 24)) != 0);
}

TEST_CASE("CPUID gains the KVM signature leaf when missing", "[unit][cpuid]")
{
    std::vector<kvm_cpuid_entry2> supported{leaf(0x1)};
    const auto entries = arch::cpuid_for_vcpu(supported, 0, 1);
    const auto& sig = find(entries, 0x4000'0000);
    char text[13] = {};
    std::memcpy(text, &sig.ebx, 4);
    std::memcpy(text + 4, &sig.ecx, 4);
    std::memcpy(text + 8, &sig.edx, 4);
    CHECK(std::string(text) == "KVMKVMKVM");
}

TEST_CASE("64-bit boot state follows the Linux boot protocol", "[unit][boot]")
{
    auto memory = arch::create_guest_ram(64 * kMiB);
    arch::write_boot_tables(memory, arch::BootMode::Long64);
    // Identity map: PML4[0] -> PDPT, PDPT[0] -> PD, PD[n] = n * 2 MiB.
    CHECK((memory.read_obj<uint64_t>(memory::GuestAddress(arch::kPml4)) & ~0xfffULL) == arch::kPdpt);
    CHECK((memory.read_obj<uint64_t>(memory::GuestAddress(arch::kPdpt)) & ~0xfffULL) == arch::kPd);
    CHECK(memory.read_obj<uint64_t>(memory::GuestAddress(arch::kPd + 8 * 511)) == ((511ULL << 21) | 0x83));
    CHECK(memory.read_obj<uint64_t>(memory::GuestAddress(arch::kBootGdt + arch::kBootCs)) == 0x00af9b000000ffff);
    CHECK(memory.read_obj<uint64_t>(memory::GuestAddress(arch::kBootGdt + arch::kBootDs)) == 0x00cf93000000ffff);

    const auto regs = arch::boot_regs(arch::BootMode::Long64, 0x100200, arch::kBootParams);
    CHECK(regs.rip == 0x100200);
    CHECK(regs.rsi == arch::kBootParams);
    CHECK(regs.rflags == 2);

    const auto sregs = arch::boot_sregs(arch::BootMode::Long64, kvm_sregs{});
    CHECK(sregs.cs.selector == 0x10);
    CHECK(sregs.cs.l == 1);
    CHECK(sregs.cs.db == 0);
    CHECK(sregs.ds.selector == 0x18);
    CHECK(sregs.ss.selector == 0x18);
    CHECK(sregs.ds.limit == 0xffffffff);
    CHECK(sregs.tr.type == 11);
    CHECK(sregs.cr3 == arch::kPml4);
    CHECK((sregs.cr0 & 0x80000001) == 0x80000001);
    CHECK((sregs.efer & 0x500) == 0x500);
    CHECK(sregs.gdt.base == arch::kBootGdt);
    CHECK(sregs.gdt.limit == 31);
}

TEST_CASE("PVH boot state is 32-bit protected mode without paging", "[unit][boot]")
{
    const auto regs = arch::boot_regs(arch::BootMode::Pvh32, 0x1000000, 0x7000);
    CHECK(regs.rbx == 0x7000);
    const auto sregs = arch::boot_sregs(arch::BootMode::Pvh32, kvm_sregs{});
    CHECK((sregs.cr0 & 1) == 1);
    CHECK((sregs.cr0 & 0x80000000) == 0);
    CHECK(sregs.efer == 0);
    CHECK(sregs.cs.db == 1);
    CHECK(sregs.cs.l == 0);
    CHECK(sregs.cs.base == 0);
    CHECK(sregs.cs.limit == 0xffffffff);
}

TEST_CASE("LAPIC LINT0 becomes ExtINT and LINT1 NMI", "[unit][boot]")
{
    kvm_lapic_state lapic{};
    const uint32_t masked = 1U << 16;
    std::memcpy(&lapic.regs[0x350], &masked, 4);
    arch::configure_lapic_lints(lapic);
    uint32_t lint0 = 0;
    uint32_t lint1 = 0;
    std::memcpy(&lint0, &lapic.regs[0x350], 4);
    std::memcpy(&lint1, &lapic.regs[0x360], 4);
    CHECK(((lint0 >> 8) & 7) == 7);
    CHECK((lint0 & masked) == masked); // other bits kept
    CHECK(((lint1 >> 8) & 7) == 4);
}
