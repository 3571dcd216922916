// The root of the tables: RSDP (ACPI 6.5 section 5.2.5.3, revision 2) and XSDT (5.2.8).
// There is no RSDT: a revision-2 RSDP names the XSDT, which every 64-bit OS uses.
#include "acpi/acpi_tables.hpp"

namespace minivmm::acpi {

namespace {

#pragma pack(push, 1)
struct Rsdp {
    std::array<char, 8> signature; // "RSD PTR "
    uint8_t checksum;              // over the first 20 bytes (the ACPI 1.0 structure)
    std::array<char, 6> oem_id;
    uint8_t revision;      // 2: ACPI 2.0 and later
    uint32_t rsdt_address; // 0: no RSDT
    uint32_t length;       // of the whole structure
    uint64_t xsdt_address;
    uint8_t extended_checksum; // over all 36 bytes
    std::array<uint8_t, 3> reserved;
};
static_assert(sizeof(Rsdp) == 36);
#pragma pack(pop)

constexpr std::size_t kRsdpV1Size = 20;
constexpr uint8_t kRsdpRevision = 2;
constexpr uint8_t kXsdtRevision = 1;

} // namespace

Table build_rsdp(uint64_t xsdt_address)
{
    Rsdp rsdp{};
    rsdp.signature = fixed_text<8>("RSD PTR ");
    rsdp.oem_id = fixed_text<6>(kOemId);
    rsdp.revision = kRsdpRevision;
    rsdp.length = sizeof(Rsdp);
    rsdp.xsdt_address = xsdt_address;
    Table table;
    append(table, rsdp);
    table[offsetof(Rsdp, checksum)] = checksum(std::span(table).first(kRsdpV1Size));
    table[offsetof(Rsdp, extended_checksum)] = checksum(table);
    return table;
}

Table build_xsdt(std::span<const uint64_t> table_addresses)
{
    Table table;
    append(table, make_header("XSDT", kXsdtRevision));
    for (const uint64_t address : table_addresses) {
        append(table, address);
    }
    finish_table(table);
    return table;
}

} // namespace minivmm::acpi
