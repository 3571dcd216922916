// ACPI tables (ACPI 6.5 chapter 5): each table on its own, then all of them placed in guest
// memory and followed from the RSDP the way a guest does.
#include "arch/x86_64/virtio_mmio_slots.hpp"
#include "acpi/acpi_tables.hpp"
#include "arch/x86_64/guest_ram.hpp"
#include "arch/x86_64/layout.hpp"

#include <minivmm/error.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <numeric>
#include <string>
#include <vector>

using namespace minivmm;
using namespace minivmm::acpi;

namespace {

constexpr uint64_t kMiB = 1024 * 1024;

uint8_t sum(std::span<const uint8_t> bytes)
{
    return std::accumulate(bytes.begin(), bytes.end(), uint8_t{0},
                           [](uint8_t acc, uint8_t b) { return static_cast<uint8_t>(acc + b); });
}

template <typename T>
T at(std::span<const uint8_t> bytes, std::size_t offset)
{
    REQUIRE(offset + sizeof(T) <= bytes.size());
    T value;
    std::memcpy(&value, bytes.data() + offset, sizeof(T));
    return value;
}

std::string text(std::span<const uint8_t> bytes, std::size_t offset, std::size_t size)
{
    REQUIRE(offset + size <= bytes.size());
    return std::string(bytes.begin() + static_cast<std::ptrdiff_t>(offset),
                       bytes.begin() + static_cast<std::ptrdiff_t>(offset + size));
}

bool contains(std::span<const uint8_t> haystack, const std::vector<uint8_t>& needle)
{
    return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) != haystack.end();
}

// 5.2.6: signature, length == size, checksum, minivmm's OEM fields.
void check_header(std::span<const uint8_t> table, const std::string& signature, uint8_t revision)
{
    INFO(signature);
    REQUIRE(table.size() >= 36);
    CHECK(text(table, 0, 4) == signature);
    CHECK(at<uint32_t>(table, 4) == table.size());
    CHECK(table[8] == revision);
    CHECK(sum(table) == 0);
    CHECK(text(table, 10, 6) == "MINVMM");
    CHECK(text(table, 16, 8) == "MINIVMM ");
    CHECK(at<uint32_t>(table, 24) == 1);
    CHECK(text(table, 28, 4) == "MVMM");
}

struct GasFields {
    uint8_t space, width, offset, access;
    uint64_t address;
};

GasFields gas(std::span<const uint8_t> table, std::size_t offset)
{
    return {table[offset], table[offset + 1], table[offset + 2], table[offset + 3], at<uint64_t>(table, offset + 4)};
}

struct MadtEntry {
    uint8_t type;
    std::vector<uint8_t> bytes;
};

std::vector<MadtEntry> madt_entries(std::span<const uint8_t> madt)
{
    std::vector<MadtEntry> entries;
    std::size_t pos = 44;
    while (pos < madt.size()) {
        REQUIRE(pos + 2 <= madt.size());
        const uint8_t length = madt[pos + 1];
        REQUIRE(length >= 2);
        REQUIRE(pos + length <= madt.size());
        entries.push_back({madt[pos], std::vector<uint8_t>(madt.begin() + static_cast<std::ptrdiff_t>(pos),
                                                           madt.begin() + static_cast<std::ptrdiff_t>(pos + length))});
        pos += length;
    }
    CHECK(pos == madt.size());
    return entries;
}

std::vector<MadtEntry> of_type(const std::vector<MadtEntry>& entries, uint8_t type)
{
    std::vector<MadtEntry> out;
    std::copy_if(entries.begin(), entries.end(), std::back_inserter(out), [&](const auto& e) { return e.type == type; });
    return out;
}

std::vector<AcpiDevice> two_virtio_devices()
{
    const auto slots = arch::virtio_mmio_slots(2);
    return {virtio_mmio_acpi_device(slots[0]), virtio_mmio_acpi_device(slots[1])};
}

} // namespace

TEST_CASE("ACPI: RSDP revision 2 with both checksums (5.2.5.3)", "[unit][acpi]")
{
    const Table rsdp = build_rsdp(0xe0040);
    REQUIRE(rsdp.size() == 36);
    CHECK(text(rsdp, 0, 8) == "RSD PTR ");
    CHECK(sum(std::span(rsdp).first(20)) == 0);
    CHECK(sum(rsdp) == 0);
    CHECK(text(rsdp, 9, 6) == "MINVMM");
    CHECK(rsdp[15] == 2);
    CHECK(at<uint32_t>(rsdp, 16) == 0); // no RSDT
    CHECK(at<uint32_t>(rsdp, 20) == 36);
    CHECK(at<uint64_t>(rsdp, 24) == 0xe0040);
}

TEST_CASE("ACPI: XSDT lists 64-bit table addresses (5.2.8)", "[unit][acpi]")
{
    const std::vector<uint64_t> addresses{0xe0100, 0x1'2345'6780};
    const Table xsdt = build_xsdt(addresses);
    check_header(xsdt, "XSDT", 1);
    REQUIRE(xsdt.size() == 36 + 16);
    CHECK(at<uint64_t>(xsdt, 36) == 0xe0100);
    CHECK(at<uint64_t>(xsdt, 44) == 0x1'2345'6780);
}

TEST_CASE("ACPI: FADT of a hardware-reduced platform (5.2.9)", "[unit][acpi]")
{
    const Table fadt = build_fadt(0xe0200);
    check_header(fadt, "FACP", 6);
    REQUIRE(fadt.size() == 276);
    CHECK(fadt[131] == 5); // FADT minor version: ACPI 6.5

    const uint32_t flags = at<uint32_t>(fadt, 112);
    CHECK((flags & (1u << 20)) != 0); // HW_REDUCED_ACPI
    CHECK((flags & (1u << 10)) != 0); // RESET_REG_SUP
    CHECK((flags & (1u << 4)) != 0);  // PWR_BUTTON: no fixed power button
    CHECK((flags & (1u << 5)) != 0);  // SLP_BUTTON

    const uint16_t boot = at<uint16_t>(fadt, 109);
    CHECK((boot & (1u << 1)) == 0); // 8042 clear: Linux must not probe the PS/2 controller
    CHECK((boot & (1u << 2)) != 0); // VGA not present
    CHECK((boot & (1u << 3)) != 0); // MSI not supported
    CHECK((boot & (1u << 5)) == 0); // the CMOS RTC is present
    CHECK(boot == 0x000c);

    CHECK(at<uint16_t>(fadt, 46) == arch::kAcpiSciGsi);
    CHECK(fadt[108] == 0x32); // RTC century index
    // No FACS, 32-bit DSDT, SMI_CMD, legacy PM1/PM2/PM timer/GPE blocks or lengths.
    CHECK(std::all_of(fadt.begin() + 36, fadt.begin() + 44, [](uint8_t b) { return b == 0; }));
    CHECK(std::all_of(fadt.begin() + 48, fadt.begin() + 96, [](uint8_t b) { return b == 0; }));
    CHECK(std::all_of(fadt.begin() + 148, fadt.begin() + 244, [](uint8_t b) { return b == 0; }));
    CHECK(at<uint64_t>(fadt, 132) == 0);      // X_FIRMWARE_CTRL
    CHECK(at<uint64_t>(fadt, 140) == 0xe0200); // X_DSDT

    // Sleep control, sleep status and reset: byte registers in SystemIO at the PM block.
    const auto check_register = [&](std::size_t offset, uint16_t port) {
        INFO("GAS at offset " << offset);
        const GasFields g = gas(fadt, offset);
        CHECK(g.space == 1);
        CHECK(g.width == 8);
        CHECK(g.offset == 0);
        CHECK(g.access == 1);
        CHECK(g.address == port);
    };
    check_register(244, arch::kAcpiSleepControlPort);
    check_register(256, arch::kAcpiSleepStatusPort);
    check_register(116, arch::kAcpiResetPort);
    CHECK(fadt[128] == arch::kAcpiResetValue);
    CHECK(arch::kAcpiSleepControlPort == 0x600);
    CHECK(text(fadt, 268, 7) == "MINIVMM");
}

TEST_CASE("ACPI: MADT for 1, 2 and 64 vCPUs (5.2.12)", "[unit][acpi]")
{
    const uint32_t cpus = GENERATE(1u, 2u, 64u);
    INFO(cpus << " vCPUs");
    const Table madt = build_madt(cpus);
    check_header(madt, "APIC", 5);
    CHECK(at<uint32_t>(madt, 36) == arch::kLapicBase);
    CHECK(at<uint32_t>(madt, 40) == 1); // PCAT_COMPAT
    const auto entries = madt_entries(madt);

    const auto lapics = of_type(entries, 0);
    REQUIRE(lapics.size() == cpus);
    for (uint32_t i = 0; i < cpus; ++i) {
        REQUIRE(lapics[i].bytes.size() == 8);
        CHECK(lapics[i].bytes[2] == i);                 // ACPI processor UID
        CHECK(lapics[i].bytes[3] == i);                 // APIC ID
        CHECK(at<uint32_t>(lapics[i].bytes, 4) == 1u); // enabled
    }
    CHECK(of_type(entries, 9).empty());
    CHECK(of_type(entries, 0x0a).empty());

    const auto ioapics = of_type(entries, 1);
    REQUIRE(ioapics.size() == 1);
    REQUIRE(ioapics[0].bytes.size() == 12);
    CHECK(ioapics[0].bytes[2] == cpus);
    CHECK(at<uint32_t>(ioapics[0].bytes, 4) == arch::kIoapicBase);
    CHECK(at<uint32_t>(ioapics[0].bytes, 8) == 0);

    const auto overrides = of_type(entries, 2);
    REQUIRE(overrides.size() == 2);
    std::map<uint8_t, std::pair<uint32_t, uint16_t>> by_irq; // ISA IRQ -> GSI, flags
    for (const auto& o : overrides) {
        REQUIRE(o.bytes.size() == 10);
        CHECK(o.bytes[2] == 0); // ISA
        by_irq[o.bytes[3]] = {at<uint32_t>(o.bytes, 4), at<uint16_t>(o.bytes, 8)};
    }
    CHECK(by_irq.at(0) == std::pair<uint32_t, uint16_t>{2, 0});
    CHECK(by_irq.at(9) == std::pair<uint32_t, uint16_t>{9, 0x000d}); // level, active high

    const auto nmis = of_type(entries, 4);
    REQUIRE(nmis.size() == 1);
    REQUIRE(nmis[0].bytes.size() == 6);
    CHECK(nmis[0].bytes[2] == 0xff); // all processors
    CHECK(nmis[0].bytes[5] == 1);    // LINT1
    CHECK(entries.size() == cpus + 4);
}

TEST_CASE("ACPI: MADT uses x2APIC entries from APIC ID 255 (5.2.12.12)", "[unit][acpi]")
{
    const Table madt = build_madt(300);
    check_header(madt, "APIC", 5);
    const auto entries = madt_entries(madt);
    const auto lapics = of_type(entries, 0);
    const auto x2apics = of_type(entries, 9);
    REQUIRE(lapics.size() == 255);
    REQUIRE(x2apics.size() == 45);
    CHECK(lapics.back().bytes[3] == 254);
    for (std::size_t i = 0; i < x2apics.size(); ++i) {
        const auto& e = x2apics[i].bytes;
        REQUIRE(e.size() == 16);
        CHECK(at<uint32_t>(e, 4) == 255 + i);  // x2APIC ID
        CHECK(at<uint32_t>(e, 8) == 1u);       // enabled
        CHECK(at<uint32_t>(e, 12) == 255 + i); // ACPI processor UID
    }
    const auto x2nmis = of_type(entries, 0x0a);
    REQUIRE(x2nmis.size() == 1);
    CHECK(at<uint32_t>(x2nmis[0].bytes, 4) == 0xffffffff);
    CHECK(x2nmis[0].bytes[8] == 1);
    CHECK(of_type(entries, 1).at(0).bytes[2] == 254); // an 8-bit IOAPIC ID
    CHECK(madt.size() == 44 + 255 * 8 + 45 * 16 + 12 + 2 * 10 + 6 + 12);
}

TEST_CASE("ACPI: MADT needs a vCPU", "[unit][acpi]") { CHECK_THROWS_AS(build_madt(0), ConfigError); }

TEST_CASE("ACPI: DSDT with COM1, virtio-mmio devices and \\_S5_ (5.2.11.1)", "[unit][acpi]")
{
    auto devices = two_virtio_devices();
    AcpiDevice pvpanic;
    pvpanic.hid = "QEMU0001";
    pvpanic.mmio = AcpiDevice::MmioRange{0xfeff0000, 2};
    devices.push_back(pvpanic);
    const Table dsdt = build_dsdt(devices);
    check_header(dsdt, "DSDT", 2);
    const std::span<const uint8_t> aml = std::span(dsdt).subspan(36);
    CHECK(aml[0] == 0x10); // Scope
    CHECK(contains(aml, {0x5c, '_', 'S', 'B', '_'}));
    // COM1: EISAID("PNP0501"), IO 0x3f8/8, IRQNoFlags{4}.
    CHECK(contains(aml, {0x5b, 0x82}));
    CHECK(contains(aml, {0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x05, 0x01}));
    CHECK(contains(aml, {0x08, '_', 'S', 'T', 'A', 0x0a, 0x0f}));
    CHECK(contains(aml, {0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08, 0x22, 0x10, 0x00, 0x79, 0x00}));
    // virtio-mmio device 1: VR01, "LNRO0005", _UID 1, _CCA 1, 4 KiB at 0xd0001000, GSI 6.
    CHECK(contains(aml, {'V', 'R', '0', '1', 0x08, '_', 'H', 'I', 'D', 0x0d, 'L', 'N', 'R', 'O', '0', '0', '0', '5', 0x00,
                         0x08, '_', 'U', 'I', 'D', 0x01, 0x08, '_', 'C', 'C', 'A', 0x01}));
    CHECK(contains(aml, {0x86, 0x09, 0x00, 0x01, 0x00, 0x10, 0x00, 0xd0, 0x00, 0x10, 0x00, 0x00,
                         0x89, 0x06, 0x00, 0x03, 0x01, 0x06, 0x00, 0x00, 0x00, 0x79, 0x00}));
    // The caller's device, one call: default name D002, a 2-byte window and no interrupt.
    CHECK(contains(aml, {'D', '0', '0', '2', 0x08, '_', 'H', 'I', 'D', 0x0d, 'Q', 'E', 'M', 'U', '0', '0', '0', '1', 0x00}));
    CHECK(contains(aml, {0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0xff, 0xfe, 0x02, 0x00, 0x00, 0x00, 0x79, 0x00}));
    // \_S5_ = Package(4){5, 5, 0, 0} closes the table.
    const std::vector<uint8_t> s5{0x08, 0x5c, '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00};
    REQUIRE(aml.size() > s5.size());
    CHECK(std::equal(s5.begin(), s5.end(), aml.end() - static_cast<std::ptrdiff_t>(s5.size())));
    CHECK(arch::kAcpiS5SleepType == 5);
}

TEST_CASE("ACPI: DSDT device descriptions are checked", "[unit][acpi]")
{
    AcpiDevice dev;
    dev.hid = "QEMU0001";
    SECTION("names are unique NameSegs")
    {
        dev.name = "COM1";
        CHECK_THROWS_AS(build_dsdt(std::vector{dev}), ConfigError);
        dev.name = "VR00";
        CHECK_THROWS_AS(build_dsdt(std::vector{dev, dev}), ConfigError);
        dev.name = "toolong";
        CHECK_THROWS_AS(build_dsdt(std::vector{dev}), ConfigError);
        dev.name = "\\ROOT";
        CHECK_THROWS_AS(build_dsdt(std::vector{dev}), ConfigError);
    }
    SECTION("MMIO windows lie below 4 GiB")
    {
        dev.mmio = AcpiDevice::MmioRange{0xffff'f000, 0x2000};
        CHECK_THROWS_AS(build_dsdt(std::vector{dev}), ConfigError);
    }
    SECTION("a _HID is given")
    {
        dev.hid.clear();
        CHECK_THROWS_AS(build_dsdt(std::vector{dev}), ConfigError);
    }
    SECTION("an EISA-form _HID becomes an EISAID integer, other forms a string")
    {
        dev.hid = "PNP0B00";
        CHECK(contains(build_dsdt(std::vector{dev}), {0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0b, 0x00}));
    }
}

TEST_CASE("ACPI: virtio-mmio slot n follows the memory map", "[unit][acpi]")
{
    const auto slots = arch::virtio_mmio_slots(arch::kMaxVirtioDevices);
    REQUIRE(slots.size() == 17);
    const AcpiDevice dev = virtio_mmio_acpi_device(slots[3]);
    CHECK(dev.hid == "LNRO0005");
    CHECK(dev.uid == 3);
    REQUIRE(dev.mmio);
    CHECK(dev.mmio->base == arch::kVirtioMmioBase + 3 * 0x1000);
    CHECK(dev.mmio->size == 0x1000);
    CHECK(dev.gsi == 10); // 8 (RTC) and 9 (SCI) are skipped
    CHECK(virtio_mmio_acpi_device(slots[0]).gsi == 5);
    CHECK(virtio_mmio_acpi_device(slots[16]).gsi == 23);
    CHECK(dev.cache_coherent);
    CHECK(dev.name == "VR03");
    for (size_t i = 0; i < slots.size(); ++i) {
        CHECK(slots[i].index == i);
        CHECK(slots[i].base == arch::kVirtioMmioBase + i * arch::kVirtioMmioStride);
    }
    CHECK(arch::virtio_mmio_slots(0).empty());
    CHECK_THROWS_AS(arch::virtio_mmio_slots(18), ConfigError);
}

TEST_CASE("ACPI: write_acpi_tables places the tables where a guest finds them", "[unit][acpi]")
{
    const uint32_t cpus = GENERATE(1u, 4u, 254u);
    INFO(cpus << " vCPUs");
    memory::GuestMemory memory = arch::create_guest_ram(16 * kMiB);
    const memory::GuestAddress rsdp_address = write_acpi_tables(memory, AcpiConfig{cpus, two_virtio_devices()});
    CHECK(rsdp_address == memory::GuestAddress(arch::kAcpiStart));
    CHECK(rsdp_address.value() % 16 == 0);

    const auto read = [&](uint64_t address, uint64_t size) {
        REQUIRE(address >= arch::kAcpiStart);
        REQUIRE(address + size <= arch::kAcpiTablesEnd);
        const auto bytes = memory.slice(memory::GuestAddress(address), size);
        std::vector<uint8_t> out;
        std::transform(bytes.begin(), bytes.end(), std::back_inserter(out), [](std::byte b) { return std::to_integer<uint8_t>(b); });
        return out;
    };
    const auto read_table = [&](uint64_t address) {
        const auto header = read(address, 36);
        return read(address, at<uint32_t>(header, 4));
    };

    const auto rsdp = read(rsdp_address.value(), 36);
    REQUIRE(text(rsdp, 0, 8) == "RSD PTR ");
    CHECK(sum(std::span(rsdp).first(20)) == 0);
    CHECK(sum(rsdp) == 0);
    const auto xsdt = read_table(at<uint64_t>(rsdp, 24));
    check_header(xsdt, "XSDT", 1);
    REQUIRE(xsdt.size() == 52);
    const auto fadt = read_table(at<uint64_t>(xsdt, 36));
    const auto madt = read_table(at<uint64_t>(xsdt, 44));
    check_header(fadt, "FACP", 6);
    check_header(madt, "APIC", 5);
    CHECK(of_type(madt_entries(madt), 0).size() == cpus);
    const uint64_t dsdt_address = at<uint64_t>(fadt, 140);
    const auto dsdt = read_table(dsdt_address);
    check_header(dsdt, "DSDT", 2);
    CHECK(contains(dsdt, {'L', 'N', 'R', 'O', '0', '0', '0', '5'}));

    // In order, 16-byte aligned, not overlapping.
    const std::vector<std::pair<uint64_t, uint64_t>> placed{{rsdp_address.value(), 36},
                                                             {at<uint64_t>(rsdp, 24), xsdt.size()},
                                                             {at<uint64_t>(xsdt, 36), fadt.size()},
                                                             {at<uint64_t>(xsdt, 44), madt.size()},
                                                             {dsdt_address, dsdt.size()}};
    for (std::size_t i = 0; i < placed.size(); ++i) {
        CHECK(placed[i].first % 16 == 0);
        if (i > 0) {
            CHECK(placed[i - 1].first + placed[i - 1].second <= placed[i].first);
        }
    }
}

TEST_CASE("ACPI: tables that do not fit below 0xf0000 are a configuration error", "[unit][acpi]")
{
    memory::GuestMemory memory = arch::create_guest_ram(16 * kMiB);
    CHECK_THROWS_AS(write_acpi_tables(memory, AcpiConfig{5000, {}}), ConfigError);
    CHECK_THROWS_AS(write_acpi_tables(memory, AcpiConfig{0, {}}), ConfigError);
}
