// Intel MultiProcessor Specification 1.4 tables (chapter 4 "MP Configuration Table"):
// what a guest booted with acpi=off (or without ACPI) uses to find its CPUs and IOAPIC.
// The floating pointer is at arch::kEbdaStart; the configuration table follows it
// in the EBDA when it fits (up to 40 vCPUs), else it goes to the BIOS area
// at kMpLargeTableBase (0xf0000; the ACPI tables use 0xe0000-0xeffff).
// Not described: PCI buses (virtio-mmio needs none), the extended table.
#pragma once

#include "arch/x86_64/layout.hpp"
#include "memory/guest_memory.hpp"

#include <cstdint>

namespace minivmm::arch {

// MP processor entries carry 8-bit APIC IDs, and the IOAPIC takes ID = number of vCPUs;
// 0xff is the broadcast ID.
inline constexpr uint32_t kMpMaxCpus = 254;

// Writes the floating pointer and configuration table for `num_cpus` vCPUs (APIC IDs
// 0..num_cpus-1, CPU 0 the bootstrap processor). Returns the bytes written (floating
// pointer plus configuration table). ConfigError for 0 or more than kMpMaxCpus vCPUs.
[[nodiscard]] uint64_t write_mptable(memory::GuestMemory& memory, uint32_t num_cpus);

// The configuration table's size in bytes for `num_cpus` vCPUs (pure).
[[nodiscard]] uint64_t mptable_config_size(uint32_t num_cpus);

} // namespace minivmm::arch
