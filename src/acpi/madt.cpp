// MADT, "Multiple APIC Description Table" (ACPI 6.5 section 5.2.12), revision 5: how a
// guest finds its CPUs and the IOAPIC without an MP table. The same machine as
// arch/x86_64/mptable.cpp: APIC ID = vCPU index, IOAPIC ID = number of vCPUs, ISA IRQ 0 on GSI 2,
// LINT1 as NMI. Processors with APIC IDs from 255 up get x2APIC entries (5.2.12.12: IDs
// below 255 must use the local APIC structure).
#include "acpi/acpi_tables.hpp"

#include "arch/x86_64/layout.hpp"

#include <minivmm/error.hpp>

#include <algorithm>

namespace minivmm::acpi {

namespace {

#pragma pack(push, 1)
struct MadtFixed {
    uint32_t local_apic_address;
    uint32_t flags; // bit 0 PCAT_COMPAT: dual 8259s are present
};
// 5.2.12.2 "Processor Local APIC Structure".
struct LocalApic {
    uint8_t type; // 0
    uint8_t length;
    uint8_t processor_uid;
    uint8_t apic_id;
    uint32_t flags; // bit 0 Enabled
};
// 5.2.12.3 "I/O APIC Structure".
struct IoApic {
    uint8_t type; // 1
    uint8_t length;
    uint8_t io_apic_id;
    uint8_t reserved;
    uint32_t address;
    uint32_t gsi_base;
};
// 5.2.12.5 "Interrupt Source Override Structure".
struct InterruptSourceOverride {
    uint8_t type; // 2
    uint8_t length;
    uint8_t bus; // 0: ISA
    uint8_t source;
    uint32_t gsi;
    uint16_t flags; // MPS INTI flags: bits 1:0 polarity, bits 3:2 trigger mode
};
// 5.2.12.7 "Local APIC NMI Structure".
struct LocalApicNmi {
    uint8_t type; // 4
    uint8_t length;
    uint8_t processor_uid; // 0xff: all processors
    uint16_t flags;
    uint8_t lint;
};
// 5.2.12.12 "Processor Local x2APIC Structure".
struct LocalX2Apic {
    uint8_t type; // 9
    uint8_t length;
    uint16_t reserved;
    uint32_t x2apic_id;
    uint32_t flags;
    uint32_t processor_uid;
};
// 5.2.12.13 "Local x2APIC NMI Structure".
struct LocalX2ApicNmi {
    uint8_t type; // 0x0a
    uint8_t length;
    uint16_t flags;
    uint32_t processor_uid; // 0xffffffff: all processors
    uint8_t lint;
    std::array<uint8_t, 3> reserved;
};
#pragma pack(pop)
static_assert(sizeof(LocalApic) == 8 && sizeof(IoApic) == 12 && sizeof(InterruptSourceOverride) == 10);
static_assert(sizeof(LocalApicNmi) == 6 && sizeof(LocalX2Apic) == 16 && sizeof(LocalX2ApicNmi) == 12);

constexpr uint8_t kMadtRevision = 5; // ACPI 6.3 and later
constexpr uint32_t kPcatCompat = 1u << 0;
constexpr uint32_t kProcessorEnabled = 1u << 0;
constexpr uint8_t kTypeLocalApic = 0;
constexpr uint8_t kTypeIoApic = 1;
constexpr uint8_t kTypeInterruptSourceOverride = 2;
constexpr uint8_t kTypeLocalApicNmi = 4;
constexpr uint8_t kTypeLocalX2Apic = 9;
constexpr uint8_t kTypeLocalX2ApicNmi = 0x0a;
constexpr uint32_t kFirstX2ApicId = 255;
constexpr uint8_t kAllProcessors = 0xff;
constexpr uint32_t kAllX2Processors = 0xffffffff;
constexpr uint8_t kIsaBus = 0;
constexpr uint8_t kLint1 = 1;
constexpr uint16_t kFlagsConformToBus = 0;
// Table 5.26 "MPS INTI Flags": polarity 01 active high, trigger mode 11 level.
constexpr uint16_t kFlagsLevelActiveHigh = 0x000d;
constexpr uint8_t kTimerIrq = 0;
constexpr uint32_t kTimerGsi = 2; // ISA IRQ 0 on IOAPIC pin 2, as on PC hardware
// An IOAPIC ID is 8 bits; beyond 254 vCPUs (x2APIC only) it shares a number with a local
// APIC, which only mattered on the P6 APIC bus.
constexpr uint32_t kMaxIoApicId = 0xfe;

} // namespace

Table build_madt(uint32_t num_cpus)
{
    if (num_cpus == 0) {
        throw ConfigError("the MADT needs at least one vCPU");
    }
    Table table;
    append(table, make_header("APIC", kMadtRevision));
    append(table, MadtFixed{static_cast<uint32_t>(arch::kLapicBase), kPcatCompat});
    for (uint32_t cpu = 0; cpu < num_cpus; ++cpu) {
        if (cpu < kFirstX2ApicId) {
            append(table, LocalApic{kTypeLocalApic, sizeof(LocalApic), static_cast<uint8_t>(cpu),
                                    static_cast<uint8_t>(cpu), kProcessorEnabled});
        } else {
            append(table, LocalX2Apic{kTypeLocalX2Apic, sizeof(LocalX2Apic), 0, cpu, kProcessorEnabled, cpu});
        }
    }
    const auto ioapic_id = static_cast<uint8_t>(std::min(num_cpus, kMaxIoApicId));
    append(table, IoApic{kTypeIoApic, sizeof(IoApic), ioapic_id, 0, static_cast<uint32_t>(arch::kIoapicBase), 0});
    append(table, InterruptSourceOverride{kTypeInterruptSourceOverride, sizeof(InterruptSourceOverride), kIsaBus,
                                          kTimerIrq, kTimerGsi, kFlagsConformToBus});
    // The SCI: level-triggered, active high (5.2.12.5: an SCI other than the ISA default
    // needs an override).
    append(table, InterruptSourceOverride{kTypeInterruptSourceOverride, sizeof(InterruptSourceOverride), kIsaBus,
                                          static_cast<uint8_t>(arch::kAcpiSciGsi), arch::kAcpiSciGsi,
                                          kFlagsLevelActiveHigh});
    append(table, LocalApicNmi{kTypeLocalApicNmi, sizeof(LocalApicNmi), kAllProcessors, kFlagsConformToBus, kLint1});
    if (num_cpus > kFirstX2ApicId) {
        append(table, LocalX2ApicNmi{kTypeLocalX2ApicNmi, sizeof(LocalX2ApicNmi), kFlagsConformToBus,
                                     kAllX2Processors, kLint1, {}});
    }
    finish_table(table);
    return table;
}

} // namespace minivmm::acpi
