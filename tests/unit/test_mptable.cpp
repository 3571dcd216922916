// MP table tests: parse what write_mptable put in guest memory as a guest would (MP spec 1.4 chapter 4).
#include "arch/x86_64/mptable.hpp"
#include "arch/x86_64/guest_ram.hpp"
#include "arch/x86_64/layout.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <numeric>
#include <string>
#include <vector>

using namespace minivmm;

namespace {

constexpr uint64_t kMiB = 1024 * 1024;

uint8_t sum(std::span<const std::byte> bytes)
{
    return std::accumulate(bytes.begin(), bytes.end(), uint8_t{0}, [](uint8_t acc, std::byte b) {
        return static_cast<uint8_t>(acc + std::to_integer<uint8_t>(b));
    });
}

std::string text(std::span<const std::byte> bytes)
{
    std::string out;
    for (auto b : bytes) {
        out.push_back(static_cast<char>(b));
    }
    return out;
}

template <typename T>
T at(std::span<const std::byte> bytes, std::size_t offset)
{
    T value;
    std::memcpy(&value, bytes.data() + offset, sizeof(T));
    return value;
}

struct ParsedTable {
    uint64_t table_address = 0;
    uint16_t entry_count = 0;
    std::vector<std::vector<std::byte>> entries; // in order, each with its type byte first
};

ParsedTable parse(const memory::GuestMemory& memory)
{
    ParsedTable parsed;
    const auto fp = memory.slice(memory::GuestAddress(arch::kEbdaStart), 16);
    REQUIRE(text(fp.subspan(0, 4)) == "_MP_");
    CHECK(sum(fp) == 0);
    CHECK(std::to_integer<uint8_t>(fp[8]) == 1); // length in paragraphs
    CHECK(std::to_integer<uint8_t>(fp[9]) == 4); // spec rev 1.4
    CHECK(std::to_integer<uint8_t>(fp[11]) == 0); // config table present
    parsed.table_address = at<uint32_t>(fp, 4);

    const auto header = memory.slice(memory::GuestAddress(parsed.table_address), 44);
    REQUIRE(text(header.subspan(0, 4)) == "PCMP");
    const uint16_t length = at<uint16_t>(header, 4);
    CHECK(std::to_integer<uint8_t>(header[6]) == 4);
    CHECK(text(header.subspan(8, 8)) == "MINIVMM ");
    CHECK(at<uint32_t>(header, 36) == arch::kLapicBase);
    parsed.entry_count = at<uint16_t>(header, 34);
    const auto table = memory.slice(memory::GuestAddress(parsed.table_address), length);
    CHECK(sum(table) == 0);

    std::size_t pos = 44;
    for (uint16_t i = 0; i < parsed.entry_count; ++i) {
        REQUIRE(pos < table.size());
        const std::size_t size = std::to_integer<uint8_t>(table[pos]) == 0 ? 20 : 8;
        REQUIRE(pos + size <= table.size());
        const auto entry = table.subspan(pos, size);
        parsed.entries.emplace_back(entry.begin(), entry.end());
        pos += size;
    }
    CHECK(pos == table.size());
    return parsed;
}

} // namespace

TEST_CASE("MP table for N vCPUs", "[unit][mptable]")
{
    const uint32_t cpus = GENERATE(1u, 2u, 4u, 40u, 41u, 64u, 254u);
    INFO(cpus << " vCPUs");
    auto memory = arch::create_guest_ram(64 * kMiB);
    const uint64_t written = arch::write_mptable(memory, cpus);
    CHECK(written == 16 + arch::mptable_config_size(cpus));

    const ParsedTable t = parse(memory);
    if (cpus <= 40) {
        CHECK(t.table_address == arch::kEbdaStart + 16);
        CHECK(t.table_address + arch::mptable_config_size(cpus) <= arch::kBiosStart);
    } else {
        CHECK(t.table_address == arch::kMpLargeTableBase);
        CHECK(t.table_address + arch::mptable_config_size(cpus) <= arch::kAcpiEnd);
    }
    CHECK(t.entry_count == cpus + 1 + 1 + 15 + 2);

    uint32_t processors = 0;
    uint32_t buses = 0;
    uint32_t ioapics = 0;
    std::vector<std::pair<uint8_t, uint8_t>> irqs; // source IRQ -> IOAPIC pin
    std::vector<std::pair<uint8_t, uint8_t>> lints; // type -> LINT#
    for (const auto& e : t.entries) {
        const auto type = std::to_integer<uint8_t>(e[0]);
        switch (type) {
        case 0: {
            const auto id = std::to_integer<uint8_t>(e[1]);
            const auto flags = std::to_integer<uint8_t>(e[3]);
            CHECK(id == processors);
            CHECK(std::to_integer<uint8_t>(e[2]) == 0x14);
            CHECK((flags & 1) == 1);                          // enabled
            CHECK(((flags & 2) != 0) == (processors == 0));   // BSP only on CPU 0
            ++processors;
            break;
        }
        case 1:
            CHECK(text(std::span(e).subspan(2, 6)) == "ISA   ");
            ++buses;
            break;
        case 2:
            CHECK(std::to_integer<uint8_t>(e[1]) == cpus); // IOAPIC ID
            CHECK(std::to_integer<uint8_t>(e[2]) == 0x11);
            CHECK(std::to_integer<uint8_t>(e[3]) == 1);
            CHECK(at<uint32_t>(e, 4) == arch::kIoapicBase);
            ++ioapics;
            break;
        case 3:
            CHECK(std::to_integer<uint8_t>(e[1]) == 0); // INT
            CHECK(std::to_integer<uint8_t>(e[6]) == cpus); // to our IOAPIC
            irqs.emplace_back(std::to_integer<uint8_t>(e[5]), std::to_integer<uint8_t>(e[7]));
            break;
        case 4:
            CHECK(std::to_integer<uint8_t>(e[6]) == 0xff);
            lints.emplace_back(std::to_integer<uint8_t>(e[1]), std::to_integer<uint8_t>(e[7]));
            break;
        default:
            FAIL("unknown entry type " << int{type});
        }
    }
    CHECK(processors == cpus);
    CHECK(buses == 1);
    CHECK(ioapics == 1);
    std::vector<std::pair<uint8_t, uint8_t>> expected{{0, 2}}; // the timer on pin 2, no IRQ 2 (cascade)
    for (uint8_t irq = 1; irq < 16; ++irq) {
        if (irq != 2) {
            expected.emplace_back(irq, irq);
        }
    }
    CHECK(irqs == expected);
    CHECK(lints == std::vector<std::pair<uint8_t, uint8_t>>{{3, 0}, {1, 1}}); // ExtINT on LINT0, NMI on LINT1
}

TEST_CASE("MP table vCPU limits", "[unit][mptable]")
{
    auto memory = arch::create_guest_ram(16 * kMiB);
    CHECK_THROWS_AS(arch::write_mptable(memory, 0), ConfigError);
    CHECK_THROWS_AS(arch::write_mptable(memory, arch::kMpMaxCpus + 1), ConfigError);
    CHECK_THROWS_AS(arch::write_mptable(memory, 1024), ConfigError);
}
