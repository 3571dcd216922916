// Places the ACPI tables in guest memory (docs/architecture.md "Guest physical memory map"):
// RSDP at 0xe0000, where Linux's scan of the BIOS area finds it, then XSDT, FADT, MADT and
// DSDT, each on a 16-byte boundary, all below 0xf0000.
#include "acpi/acpi_tables.hpp"

#include "arch/x86_64/layout.hpp"

#include <minivmm/error.hpp>

#include <fmt/format.h>

#include <array>

namespace minivmm::acpi {

static_assert(arch::kAcpiStart % 16 == 0, "the RSDP must be 16-byte aligned (5.2.5.1)");

namespace {

constexpr uint64_t kAlignment = 16;
constexpr uint64_t kRsdpSize = 36;

uint64_t align_up(uint64_t value) { return (value + kAlignment - 1) & ~(kAlignment - 1); }

} // namespace

AcpiDevice virtio_mmio_acpi_device(const arch::VirtioMmioSlot& slot)
{
    AcpiDevice dev;
    dev.hid = "LNRO0005";
    dev.uid = slot.index;
    dev.mmio = AcpiDevice::MmioRange{static_cast<uint32_t>(slot.base), static_cast<uint32_t>(slot.size)};
    dev.gsi = slot.gsi;
    dev.cache_coherent = true;
    dev.name = fmt::format("VR{:02X}", slot.index);
    return dev;
}

memory::GuestAddress write_acpi_tables(memory::GuestMemory& memory, const AcpiConfig& config)
{
    const Table madt = build_madt(config.num_cpus);
    const Table dsdt = build_dsdt(config.devices);

    const uint64_t rsdp_address = arch::kAcpiStart;
    const uint64_t xsdt_address = align_up(rsdp_address + kRsdpSize);
    const uint64_t fadt_address = align_up(xsdt_address + sizeof(SdtHeader) + 2 * sizeof(uint64_t));
    const uint64_t madt_address = align_up(fadt_address + kFadtSize);
    const uint64_t dsdt_address = align_up(madt_address + madt.size());
    const uint64_t end = dsdt_address + dsdt.size();
    if (end > arch::kAcpiTablesEnd) {
        throw ConfigError(fmt::format("ACPI tables for {} vCPUs and {} devices need {} bytes; {} are reserved for them",
                                      config.num_cpus, config.devices.size(), end - arch::kAcpiStart,
                                      arch::kAcpiTablesEnd - arch::kAcpiStart));
    }

    const std::array<uint64_t, 2> xsdt_entries{fadt_address, madt_address};
    const Table fadt = build_fadt(dsdt_address);
    const Table xsdt = build_xsdt(xsdt_entries);
    const Table rsdp = build_rsdp(xsdt_address);
    if (xsdt_address + xsdt.size() > fadt_address || rsdp.size() != kRsdpSize || fadt.size() != kFadtSize) {
        throw HostError("ACPI table sizes do not match their layout");
    }
    const std::array<std::pair<uint64_t, const Table*>, 5> placed{{
        {rsdp_address, &rsdp},
        {xsdt_address, &xsdt},
        {fadt_address, &fadt},
        {madt_address, &madt},
        {dsdt_address, &dsdt},
    }};
    for (const auto& [address, table] : placed) {
        memory.write(memory::GuestAddress(address), std::as_bytes(std::span(*table)));
    }
    return memory::GuestAddress(rsdp_address);
}

} // namespace minivmm::acpi
