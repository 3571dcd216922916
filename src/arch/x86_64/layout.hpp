// The platform conventions of docs/architecture.md as constants: the one place the
// memory map, ports and interrupt numbers are written down in code.
#pragma once

#include <cstdint>

namespace minivmm::arch {

// Guest physical memory map.
inline constexpr uint64_t kBootGdt = 0x500;
inline constexpr uint64_t kBootIdt = 0x520;
inline constexpr uint64_t kBootParams = 0x7000;
inline constexpr uint64_t kBootStack = 0x8ff0;
inline constexpr uint64_t kPml4 = 0x9000;
inline constexpr uint64_t kPdpt = 0xa000;
inline constexpr uint64_t kPd = 0xb000;
inline constexpr uint64_t kCmdline = 0x20000;
inline constexpr uint64_t kCmdlineMax = 0x10000; // room before the next structure
inline constexpr uint64_t kEbdaStart = 0x9fc00;  // MP floating pointer + config table
inline constexpr uint64_t kBiosStart = 0xa0000;  // reserved from here to 1 MiB
inline constexpr uint64_t kAcpiStart = 0xe0000;  // RSDP + ACPI tables, up to kAcpiTablesEnd
inline constexpr uint64_t kAcpiTablesEnd = 0xf0000;
inline constexpr uint64_t kMpLargeTableBase = 0xf0000; // an MP table too large for the EBDA
inline constexpr uint64_t kAcpiEnd = 0x100000;
inline constexpr uint64_t kKernelStart = 0x100000;
// RAM is [0, min(size, kMmioHoleStart)) and the rest from kHighRamStart up (guest_ram.hpp).
inline constexpr uint64_t kMmioHoleStart = 0xc000'0000;
inline constexpr uint64_t kMmioHoleEnd = 0x1'0000'0000;
inline constexpr uint64_t kHighRamStart = kMmioHoleEnd;
inline constexpr uint64_t kBootTimer = 0xc000'0000;
inline constexpr uint64_t kVirtioMmioBase = 0xd000'0000;
inline constexpr uint64_t kVirtioMmioStride = 0x1000;
inline constexpr uint64_t kIoapicBase = 0xfec0'0000;
inline constexpr uint64_t kLapicBase = 0xfee0'0000;
static_assert(kAcpiTablesEnd <= kMpLargeTableBase, "the ACPI tables end where a large MP table may start");

// Boot GDT selectors (Linux's __BOOT_CS / __BOOT_DS) and the TSS.
inline constexpr uint16_t kBootTss = 0x08; // GDT: null, TSS, code, data (32 bytes: 0x500-0x51f)
inline constexpr uint16_t kBootCs = 0x10;
inline constexpr uint16_t kBootDs = 0x18;

// KVM's private pages just below the IOAPIC (VMX needs them; harmless elsewhere).
inline constexpr uint64_t kKvmTssAddress = 0xfffb'd000;
inline constexpr uint64_t kKvmIdentityMap = 0xfffb'c000;

// Ports and GSIs.
inline constexpr uint32_t kIsaIrqCount = 16;  // ISA IRQs 0-15, identity-mapped to GSIs
inline constexpr uint32_t kPicCascadeIrq = 2; // the 8259 cascade: never an interrupt of its own
inline constexpr uint16_t kCom1Port = 0x3f8;
inline constexpr uint32_t kCom1Gsi = 4;
inline constexpr uint16_t kI8042DataPort = 0x60;
inline constexpr uint16_t kI8042CommandPort = 0x64;
inline constexpr uint32_t kI8042Gsi = 1;
inline constexpr uint16_t kRtcPort = 0x70;
inline constexpr uint32_t kRtcGsi = 8;
inline constexpr uint16_t kDebugExitPort = 0xf4;
inline constexpr uint16_t kPostCodePort = 0x80;
inline constexpr uint32_t kAcpiSciGsi = 9;
// ACPI PM port block (hardware-reduced ACPI, ACPI 6.5 sections 4.8.3.7 and 4.8.3.6): the
// FADT's SLEEP_CONTROL_REG, SLEEP_STATUS_REG and RESET_REG, one byte each, served by AcpiPm.
inline constexpr uint16_t kAcpiPmPort = 0x600;
inline constexpr uint16_t kAcpiPmPortCount = 3;
inline constexpr uint16_t kAcpiSleepControlPort = kAcpiPmPort + 0;
inline constexpr uint16_t kAcpiSleepStatusPort = kAcpiPmPort + 1;
inline constexpr uint16_t kAcpiResetPort = kAcpiPmPort + 2;
inline constexpr uint8_t kAcpiResetValue = 0x42; // the FADT's RESET_VALUE (as QEMU's GED uses)
inline constexpr uint8_t kAcpiS5SleepType = 5;   // SLP_TYP of \_S5_ (soft off)
inline constexpr uint16_t kPvPanicPort = 0x505; // as QEMU's ISA pvpanic; ACPI "QEMU0001"
// virtio-mmio device n interrupts on the n-th free IOAPIC pin from 5 on: 5, 6, 7, 10, 11, ...
// 23, skipping the RTC (8) and the ACPI SCI (9). The in-kernel IOAPIC has 24 pins, so 17
// devices at most.
inline constexpr uint32_t kVirtioGsis[] = {5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23};
inline constexpr uint32_t kMaxVirtioDevices = sizeof(kVirtioGsis) / sizeof(kVirtioGsis[0]);
// Where virtio-mmio device n lives; the builder numbers the devices (virtio_mmio_slots.hpp).
static_assert(kVirtioMmioBase + kMaxVirtioDevices * kVirtioMmioStride <= kIoapicBase);

// The byte a guest writes to the boot timer when its userland starts.
inline constexpr uint8_t kBootTimerMagic = 123;

} // namespace minivmm::arch
