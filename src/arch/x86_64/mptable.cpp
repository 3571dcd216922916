#include "arch/x86_64/mptable.hpp"

#include "arch/x86_64/layout.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <numeric>
#include <vector>

namespace minivmm::arch {

namespace {

// MP spec 1.4 section 4.1 "MP Floating Pointer Structure".
#pragma pack(push, 1)
struct MpFloatingPointer {
    std::array<char, 4> signature; // "_MP_"
    uint32_t physptr;              // configuration table address
    uint8_t length;                // in 16-byte paragraphs
    uint8_t spec_rev;
    uint8_t checksum;
    uint8_t feature1; // 0: a configuration table is present
    uint8_t feature2; // bit 7 IMCRP clear: virtual wire mode
    std::array<uint8_t, 3> feature3_5;
};
static_assert(sizeof(MpFloatingPointer) == 16);

// Section 4.2 "MP Configuration Table Header".
struct MpConfigHeader {
    std::array<char, 4> signature; // "PCMP"
    uint16_t base_table_length;
    uint8_t spec_rev;
    uint8_t checksum;
    std::array<char, 8> oem_id;
    std::array<char, 12> product_id;
    uint32_t oem_table_pointer;
    uint16_t oem_table_size;
    uint16_t entry_count;
    uint32_t lapic_address;
    uint16_t extended_table_length;
    uint8_t extended_table_checksum;
    uint8_t reserved;
};
static_assert(sizeof(MpConfigHeader) == 44);

// Section 4.3.1 "Processor Entries".
struct MpProcessorEntry {
    uint8_t type; // 0
    uint8_t lapic_id;
    uint8_t lapic_version;
    uint8_t cpu_flags; // bit 0 EN, bit 1 BP
    uint32_t cpu_signature;
    uint32_t feature_flags;
    std::array<uint32_t, 2> reserved;
};
static_assert(sizeof(MpProcessorEntry) == 20);

// Section 4.3.2 "Bus Entries".
struct MpBusEntry {
    uint8_t type; // 1
    uint8_t bus_id;
    std::array<char, 6> bus_type;
};
static_assert(sizeof(MpBusEntry) == 8);

// Section 4.3.3 "I/O APIC Entries".
struct MpIoapicEntry {
    uint8_t type; // 2
    uint8_t ioapic_id;
    uint8_t ioapic_version;
    uint8_t flags; // bit 0 EN
    uint32_t address;
};
static_assert(sizeof(MpIoapicEntry) == 8);

// Sections 4.3.4 "I/O Interrupt Assignment Entries" (type 3) and 4.3.5 "Local Interrupt
// Assignment Entries" (type 4) share one layout.
struct MpInterruptEntry {
    uint8_t type;
    uint8_t interrupt_type; // 0 INT, 1 NMI, 2 SMI, 3 ExtINT
    uint16_t flags;         // polarity/trigger: 0 conforms to the bus
    uint8_t source_bus_id;
    uint8_t source_bus_irq;
    uint8_t dest_apic_id;
    uint8_t dest_apic_pin; // IOAPIC INTIN# or LINTIN#
};
static_assert(sizeof(MpInterruptEntry) == 8);
#pragma pack(pop)

constexpr uint8_t kSpecRev = 4; // MP spec 1.4
constexpr uint8_t kEntryProcessor = 0;
constexpr uint8_t kEntryBus = 1;
constexpr uint8_t kEntryIoapic = 2;
constexpr uint8_t kEntryIoInterrupt = 3;
constexpr uint8_t kEntryLocalInterrupt = 4;
constexpr uint8_t kInterruptInt = 0;
constexpr uint8_t kInterruptNmi = 1;
constexpr uint8_t kInterruptExtInt = 3;
constexpr uint8_t kCpuEnabled = 0x01;
constexpr uint8_t kCpuBootstrap = 0x02;
constexpr uint8_t kIoapicEnabled = 0x01;
constexpr uint8_t kLapicVersion = 0x14;  // integrated APIC, as KVM reports
constexpr uint8_t kIoapicVersion = 0x11; // 82093AA-compatible, as KVM emulates
constexpr uint32_t kCpuSignature = 0x600;           // family 6, model 0, stepping 0
constexpr uint32_t kCpuFeatures = (1u << 0) | (1u << 9); // CPUID.1:EDX FPU and APIC
constexpr uint8_t kIsaBusId = 0;
constexpr uint8_t kAllLapics = 0xff;
constexpr uint8_t kIsaIrqs = kIsaIrqCount; // as the MP table's one-byte IRQ fields
constexpr uint8_t kTimerIrq = 0;
constexpr uint8_t kTimerIoapicPin = 2; // ISA IRQ 0 on IOAPIC pin 2, as on PC hardware
constexpr uint16_t kIsaInterruptEntries = kIsaIrqs - 1;
constexpr uint16_t kLocalInterruptEntries = 2;

constexpr uint64_t kFixedSize = sizeof(MpConfigHeader) + sizeof(MpBusEntry) + sizeof(MpIoapicEntry) +
                                (kIsaInterruptEntries + kLocalInterruptEntries) * sizeof(MpInterruptEntry);
constexpr uint64_t kEbdaRoom = arch::kBiosStart - arch::kEbdaStart - sizeof(MpFloatingPointer);
static_assert((kEbdaRoom - kFixedSize) / sizeof(MpProcessorEntry) == 40, "mptable.hpp documents 40 vCPUs");
static_assert(kMpLargeTableBase >= arch::kAcpiStart + 0x10000 && kMpLargeTableBase < arch::kAcpiEnd);

template <std::size_t N>
std::array<char, N> padded(std::string_view text)
{
    std::array<char, N> out;
    out.fill(' ');
    std::copy_n(text.begin(), std::min(N, text.size()), out.begin());
    return out;
}

template <typename T>
void append(std::vector<std::byte>& out, const T& value)
{
    static_assert(std::is_trivially_copyable_v<T>);
    const auto bytes = std::as_bytes(std::span(&value, 1));
    out.insert(out.end(), bytes.begin(), bytes.end());
}

// Section 4: the bytes of a structure, checksum included, add up to zero.
uint8_t checksum(std::span<const std::byte> bytes)
{
    const auto sum = std::accumulate(bytes.begin(), bytes.end(), uint8_t{0},
                                     [](uint8_t acc, std::byte b) { return static_cast<uint8_t>(acc + std::to_integer<uint8_t>(b)); });
    return static_cast<uint8_t>(-sum);
}

} // namespace

uint64_t mptable_config_size(uint32_t num_cpus) { return kFixedSize + uint64_t{num_cpus} * sizeof(MpProcessorEntry); }

uint64_t write_mptable(memory::GuestMemory& memory, uint32_t num_cpus)
{
    if (num_cpus == 0 || num_cpus > kMpMaxCpus) {
        throw ConfigError(fmt::format("the MP table describes 1 to {} vCPUs (8-bit APIC IDs); asked for {}",
                                      kMpMaxCpus, num_cpus));
    }
    const uint8_t ioapic_id = static_cast<uint8_t>(num_cpus);

    std::vector<std::byte> table;
    append(table, MpConfigHeader{}); // filled in below, once length and count are known
    uint16_t entries = 0;
    for (uint32_t cpu = 0; cpu < num_cpus; ++cpu) {
        const uint8_t flags = static_cast<uint8_t>(kCpuEnabled | (cpu == 0 ? kCpuBootstrap : 0));
        append(table, MpProcessorEntry{kEntryProcessor, static_cast<uint8_t>(cpu), kLapicVersion, flags,
                                       kCpuSignature, kCpuFeatures, {}});
        ++entries;
    }
    append(table, MpBusEntry{kEntryBus, kIsaBusId, padded<6>("ISA")});
    append(table, MpIoapicEntry{kEntryIoapic, ioapic_id, kIoapicVersion, kIoapicEnabled,
                                static_cast<uint32_t>(arch::kIoapicBase)});
    entries += 2;
    for (uint8_t irq = 0; irq < kIsaIrqs; ++irq) {
        if (irq == kPicCascadeIrq) {
            continue;
        }
        const uint8_t pin = irq == kTimerIrq ? kTimerIoapicPin : irq;
        append(table, MpInterruptEntry{kEntryIoInterrupt, kInterruptInt, 0, kIsaBusId, irq, ioapic_id, pin});
        ++entries;
    }
    // LINT0 as the virtual-wire ExtINT input from the 8259, LINT1 as NMI, on every CPU.
    append(table, MpInterruptEntry{kEntryLocalInterrupt, kInterruptExtInt, 0, kIsaBusId, 0, kAllLapics, 0});
    append(table, MpInterruptEntry{kEntryLocalInterrupt, kInterruptNmi, 0, kIsaBusId, 0, kAllLapics, 1});
    entries += kLocalInterruptEntries;

    const uint64_t table_size = table.size();
    if (table_size != mptable_config_size(num_cpus)) {
        throw HostError("MP table size does not match its layout");
    }
    const memory::GuestAddress fp_address(arch::kEbdaStart);
    const memory::GuestAddress table_address = table_size <= kEbdaRoom ? fp_address + sizeof(MpFloatingPointer)
                                                               : memory::GuestAddress(kMpLargeTableBase);
    if (table_address == memory::GuestAddress(kMpLargeTableBase) && table_size > arch::kAcpiEnd - kMpLargeTableBase) {
        throw ConfigError(fmt::format("MP table for {} vCPUs ({} bytes) does not fit below 1 MiB", num_cpus, table_size));
    }

    MpConfigHeader header{};
    header.signature = {'P', 'C', 'M', 'P'};
    header.base_table_length = static_cast<uint16_t>(table_size);
    header.spec_rev = kSpecRev;
    header.oem_id = padded<8>("MINIVMM");
    header.product_id = padded<12>("MINIVMM");
    header.entry_count = entries;
    header.lapic_address = static_cast<uint32_t>(arch::kLapicBase);
    std::memcpy(table.data(), &header, sizeof(header));
    const uint8_t table_sum = checksum(table);
    table[offsetof(MpConfigHeader, checksum)] = std::byte{table_sum};

    MpFloatingPointer fp{};
    fp.signature = {'_', 'M', 'P', '_'};
    fp.physptr = static_cast<uint32_t>(table_address.value());
    fp.length = 1;
    fp.spec_rev = kSpecRev;
    fp.checksum = checksum(std::as_bytes(std::span(&fp, 1)));

    memory.write_obj(fp_address, fp);
    memory.write(table_address, table);
    return sizeof(fp) + table_size;
}

} // namespace minivmm::arch
