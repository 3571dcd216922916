// The hardware-reduced ACPI platform (ACPI 6.5 section 4.1 "Hardware-Reduced ACPI"), as
// Firecracker and Cloud Hypervisor present it: RSDP -> XSDT -> FADT (-> DSDT) and MADT.
// What a guest finds through it: its CPUs and the IOAPIC (MADT), how to power off and reset
// (FADT sleep/reset registers at arch::kAcpiPmPort, served by AcpiPm, and \_S5_), COM1
// and the MMIO devices (DSDT). Left out: FACS, PCI (no MCFG), GED/hot-plug, S1-S4.
#pragma once

#include "acpi/sdt.hpp"
#include "arch/x86_64/virtio_mmio_slots.hpp"
#include "memory/guest_memory.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace minivmm::acpi {

// A device under \_SB_ in the DSDT: `_HID`, `_UID`, optional `_CCA`, and a `_CRS` of the
// resources present (in this order: memory, I/O ports, interrupt).
struct AcpiDevice {
    struct MmioRange {
        uint32_t base;
        uint32_t size;
    };
    struct PortRange {
        uint16_t base;
        uint8_t length;
    };

    // "LNRO0005", "QEMU0001": a string `_HID`; an EISA ID such as "PNP0501" becomes the
    // compressed integer of ASL's EISAID().
    std::string hid;
    uint32_t uid = 0;
    std::optional<MmioRange> mmio;  // Memory32Fixed(ReadWrite, base, size)
    std::optional<PortRange> io;    // IO(Decode16, base, base, 1, length)
    std::optional<uint32_t> gsi;    // Interrupt(ResourceConsumer, Edge, ActiveHigh, Exclusive)
    bool cache_coherent = false;    // Name(_CCA, One) (section 6.2.17)
    // The device's NameSeg under \_SB_ (1-4 of A-Z, 0-9, _); empty: "D" and three hex
    // digits of its position in AcpiConfig::devices.
    std::string name;
};

struct AcpiConfig {
    uint32_t num_cpus = 1;
    std::vector<AcpiDevice> devices; // besides COM1, which is always described
};

// The DSDT entry of a virtio-mmio slot (docs/architecture.md "virtio-mmio device n"):
// "LNRO0005", _UID n, _CCA, the slot's window and GSI, named "VRnn".
[[nodiscard]] AcpiDevice virtio_mmio_acpi_device(const arch::VirtioMmioSlot& slot);

// Writes the RSDP at arch::kAcpiStart (0xe0000: 16-byte aligned, in the BIOS area Linux
// scans) followed by XSDT, FADT, MADT and DSDT, each 16-byte aligned. Returns the RSDP's
// address (for boot_params.acpi_rsdp_addr / hvm_start_info.rsdp_paddr). ConfigError for 0
// vCPUs, a bad device, or tables that do not fit.
[[nodiscard]] memory::GuestAddress write_acpi_tables(memory::GuestMemory& memory, const AcpiConfig& config);

// The tables one by one (pure), as write_acpi_tables places them.
// 5.2.5.3 RSDP, revision 2: 36 bytes, both checksums set.
[[nodiscard]] Table build_rsdp(uint64_t xsdt_address);
// 5.2.8 XSDT: the 64-bit addresses of the other tables (not the DSDT).
[[nodiscard]] Table build_xsdt(std::span<const uint64_t> table_addresses);
// 5.2.9 FADT, revision 6.5: hardware-reduced, sleep and reset registers in the PM block.
[[nodiscard]] Table build_fadt(uint64_t dsdt_address);
// 5.2.12 MADT: one local APIC (x2APIC from APIC ID 255) per vCPU, the IOAPIC, overrides.
[[nodiscard]] Table build_madt(uint32_t num_cpus);
// 5.2.11.1 DSDT: \_SB_ with COM1 and `devices`, and \_S5_.
[[nodiscard]] Table build_dsdt(std::span<const AcpiDevice> devices);

// 5.2.9 Table 5.9: the FADT of ACPI 6.0 and later, up to "Hypervisor Vendor Identity".
inline constexpr uint8_t kFadtRevision = 6;
inline constexpr uint8_t kFadtMinorRevision = 5;
inline constexpr uint32_t kFadtSize = 276;

} // namespace minivmm::acpi
