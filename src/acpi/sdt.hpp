// What every ACPI table shares (ACPI 6.5 section 5.2 "ACPI System Description Tables"): the
// 36-byte header of 5.2.6 with minivmm's OEM identity, the checksum rule (all bytes of a
// table add up to zero mod 256), and the Generic Address Structure of 5.2.3.2.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

namespace minivmm::acpi {

using Table = std::vector<uint8_t>;

inline constexpr std::string_view kOemId = "MINVMM";        // 6 bytes
inline constexpr std::string_view kOemTableId = "MINIVMM "; // 8 bytes
inline constexpr uint32_t kOemRevision = 1;
inline constexpr std::string_view kCreatorId = "MVMM"; // 4 bytes
inline constexpr uint32_t kCreatorRevision = 1;

#pragma pack(push, 1)
// 5.2.6 "System Description Table Header".
struct SdtHeader {
    std::array<char, 4> signature;
    uint32_t length; // of the whole table, header included
    uint8_t revision;
    uint8_t checksum;
    std::array<char, 6> oem_id;
    std::array<char, 8> oem_table_id;
    uint32_t oem_revision;
    std::array<char, 4> creator_id;
    uint32_t creator_revision;
};
static_assert(sizeof(SdtHeader) == 36);

// 5.2.3.2 "Generic Address Structure".
struct GenericAddress {
    uint8_t space_id; // 0 system memory, 1 system I/O
    uint8_t bit_width;
    uint8_t bit_offset;
    uint8_t access_size; // 1 byte, 2 word, 3 dword, 4 qword
    uint64_t address;
};
static_assert(sizeof(GenericAddress) == 12);
#pragma pack(pop)

inline constexpr uint8_t kSpaceSystemIo = 1;
inline constexpr uint8_t kAccessByte = 1;

// An 8-bit register at an I/O port.
[[nodiscard]] GenericAddress io_port_register(uint16_t port);

// A header with minivmm's OEM fields; length and checksum are left for finish_table().
[[nodiscard]] SdtHeader make_header(std::string_view signature, uint8_t revision);

// The byte that makes `bytes` sum to zero once added (5.2.6 "Checksum").
[[nodiscard]] uint8_t checksum(std::span<const uint8_t> bytes);
// The sum of `bytes` mod 256: 0 for a table with a correct checksum.
[[nodiscard]] uint8_t byte_sum(std::span<const uint8_t> bytes);

// Sets the header's length to the table's size and fixes its checksum. HostError if the
// table is shorter than a header.
void finish_table(Table& table);

// Copies of plain-data structures into and out of a table (little-endian host).
template <typename T>
void append(Table& table, const T& value)
{
    static_assert(std::is_trivially_copyable_v<T>);
    const auto bytes = std::as_bytes(std::span(&value, 1));
    for (const std::byte b : bytes) {
        table.push_back(std::to_integer<uint8_t>(b));
    }
}

template <typename T>
void write_at(Table& table, std::size_t offset, const T& value)
{
    static_assert(std::is_trivially_copyable_v<T>);
    std::memcpy(table.data() + offset, &value, sizeof(T));
}

template <std::size_t N>
[[nodiscard]] std::array<char, N> fixed_text(std::string_view text)
{
    std::array<char, N> out{};
    std::memcpy(out.data(), text.data(), text.size() < N ? text.size() : N);
    return out;
}

} // namespace minivmm::acpi
