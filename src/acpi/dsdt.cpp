// DSDT, "Differentiated System Description Table" (ACPI 6.5 section 5.2.11.1): a header
// followed by AML (chapter 20). In ASL terms:
//   DefinitionBlock ("", "DSDT", 2, "MINVMM", "MINIVMM ", 1) {
//     Scope (\_SB_) {
//       Device (COM1) { Name (_HID, EisaId ("PNP0501")) Name (_UID, 0) Name (_STA, 0x0F)
//                       Name (_CRS, ResourceTemplate () { IO (Decode16, 0x3F8, 0x3F8, 1, 8)
//                                                         IRQNoFlags () {4} }) }
//       Device (VR00) { Name (_HID, "LNRO0005") Name (_UID, 0) Name (_CCA, One)
//                       Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadWrite, 0xD0000000, 0x1000)
//                           Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) {5} }) }
//       ...
//     }
//     Name (\_S5_, Package (4) {5, 5, 0, 0})
//   }
// COM1 uses IRQNoFlags, as PC firmware and QEMU do; Linux's PNP layer (8250_pnp) takes it.
// Revision 2: integers are 64 bits.
#include "acpi/acpi_tables.hpp"

#include "acpi/aml.hpp"
#include "arch/x86_64/layout.hpp"

#include <minivmm/error.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace minivmm::acpi {

namespace {

constexpr uint8_t kDsdtRevision = 2;
// 6.3.7 _STA: present, enabled, shown in the UI, functioning.
constexpr uint64_t kStatusPresent = 0x0f;
constexpr uint8_t kCom1Ports = 8;

aml::Bytes hid(const std::string& id)
{
    return aml::is_eisa_id(id) ? aml::eisa_id(id) : aml::string(id);
}

aml::Bytes com1()
{
    const auto port = arch::kCom1Port;
    return aml::device("COM1", {
        aml::name("_HID", aml::eisa_id("PNP0501")),
        aml::name("_UID", aml::integer(0)),
        aml::name("_STA", aml::integer(kStatusPresent)),
        aml::name("_CRS", aml::resource_template({
            aml::io(port, port, 1, kCom1Ports),
            aml::irq_no_flags(static_cast<uint8_t>(arch::kCom1Gsi)),
        })),
    });
}

aml::Bytes device(const AcpiDevice& dev, const std::string& name)
{
    if (dev.hid.empty()) {
        throw ConfigError(fmt::format("ACPI device {}: empty _HID", name));
    }
    std::vector<aml::Bytes> resources;
    if (dev.mmio) {
        if (uint64_t{dev.mmio->base} + dev.mmio->size > (uint64_t{1} << 32) || dev.mmio->size == 0) {
            throw ConfigError(fmt::format("ACPI device {} ({}): MMIO range {:#x}+{:#x} is not a non-empty range below 4 GiB",
                                          name, dev.hid, dev.mmio->base, dev.mmio->size));
        }
        resources.push_back(aml::memory32_fixed(true, dev.mmio->base, dev.mmio->size));
    }
    if (dev.io) {
        resources.push_back(aml::io(dev.io->base, dev.io->base, 1, dev.io->length));
    }
    if (dev.gsi) {
        const uint32_t gsi = *dev.gsi;
        resources.push_back(aml::interrupt(aml::Trigger::Edge, aml::Polarity::ActiveHigh, aml::Sharing::Exclusive,
                                           std::span(&gsi, 1)));
    }
    std::vector<aml::Bytes> terms{
        aml::name("_HID", hid(dev.hid)),
        aml::name("_UID", aml::integer(dev.uid)),
    };
    if (dev.cache_coherent) {
        terms.push_back(aml::name("_CCA", aml::integer(1)));
    }
    terms.push_back(aml::name("_CRS", aml::resource_template(resources)));
    return aml::device(name, terms);
}

// 7.4.2.6 \_S5 (soft off): SLP_TYPa, SLP_TYPb, two reserved.
aml::Bytes s5()
{
    const uint64_t type = arch::kAcpiS5SleepType;
    return aml::name("\\_S5_", aml::package({aml::integer(type), aml::integer(type), aml::integer(0), aml::integer(0)}));
}

} // namespace

Table build_dsdt(std::span<const AcpiDevice> devices)
{
    std::vector<std::string> names{"COM1"};
    std::vector<aml::Bytes> sb{com1()};
    for (std::size_t i = 0; i < devices.size(); ++i) {
        std::string name = devices[i].name.empty() ? fmt::format("D{:03X}", i) : devices[i].name;
        if (std::find(names.begin(), names.end(), name) != names.end()) {
            throw ConfigError(fmt::format("ACPI device name {} is used twice", name));
        }
        if (name.empty() || name.size() > 4 || name.find_first_of(".\\^") != std::string::npos) {
            throw ConfigError(fmt::format("ACPI device name '{}' is not one NameSeg", name));
        }
        sb.push_back(device(devices[i], name));
        names.push_back(std::move(name));
    }

    Table table;
    append(table, make_header("DSDT", kDsdtRevision));
    for (const auto& term : {aml::scope("\\_SB_", sb), s5()}) {
        table.insert(table.end(), term.begin(), term.end());
    }
    finish_table(table);
    return table;
}

} // namespace minivmm::acpi
