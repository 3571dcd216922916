#include "acpi/sdt.hpp"

#include <minivmm/error.hpp>

#include <bit>
#include <numeric>

namespace minivmm::acpi {

static_assert(std::endian::native == std::endian::little, "ACPI tables are little-endian, copied as is");

GenericAddress io_port_register(uint16_t port)
{
    return GenericAddress{kSpaceSystemIo, 8, 0, kAccessByte, port};
}

SdtHeader make_header(std::string_view signature, uint8_t revision)
{
    SdtHeader header{};
    header.signature = fixed_text<4>(signature);
    header.revision = revision;
    header.oem_id = fixed_text<6>(kOemId);
    header.oem_table_id = fixed_text<8>(kOemTableId);
    header.oem_revision = kOemRevision;
    header.creator_id = fixed_text<4>(kCreatorId);
    header.creator_revision = kCreatorRevision;
    return header;
}

uint8_t byte_sum(std::span<const uint8_t> bytes)
{
    return std::accumulate(bytes.begin(), bytes.end(), uint8_t{0},
                           [](uint8_t acc, uint8_t b) { return static_cast<uint8_t>(acc + b); });
}

uint8_t checksum(std::span<const uint8_t> bytes) { return static_cast<uint8_t>(-byte_sum(bytes)); }

void finish_table(Table& table)
{
    if (table.size() < sizeof(SdtHeader)) {
        throw HostError("ACPI table shorter than its header");
    }
    write_at(table, offsetof(SdtHeader, length), static_cast<uint32_t>(table.size()));
    table[offsetof(SdtHeader, checksum)] = 0;
    table[offsetof(SdtHeader, checksum)] = checksum(table);
}

} // namespace minivmm::acpi
