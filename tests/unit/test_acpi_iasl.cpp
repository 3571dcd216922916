// A third-party check of the ACPI tables: Intel's iasl (Debian acpica-tools) disassembles
// each generated table, and the disassembly is compiled back and compared byte for byte with
// what minivmm generated (DSDT AML with optimizations off, "-oa"; data tables except the
// fields iasl rewrites: checksum and creator ID/revision). `iasl -d` alone is lenient: it
// exits 0 and prints no error for a DSDT with a wrong PkgLength (the negative tests below
// show that the round trip catches it, and that the warnings iasl does print are seen).
// Skipped, with a warning, if iasl is not on PATH.
#include "arch/x86_64/virtio_mmio_slots.hpp"
#include "acpi/acpi_tables.hpp"
#include "support/file_contents.hpp"
#include "support/run_process.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

using namespace minivmm;
using namespace minivmm::acpi;
namespace fs = std::filesystem;

namespace {

std::optional<std::string> find_iasl()
{
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path ? path : "/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        const fs::path candidate = fs::path(dir.empty() ? "." : dir) / "iasl";
        if (::access(candidate.c_str(), X_OK) == 0) {
            return candidate.string();
        }
    }
    return std::nullopt;
}

// A fresh directory, removed again at the end of the test.
class ScratchDir {
public:
    ScratchDir()
    {
        std::string pattern = (fs::temp_directory_path() / "minivmm-acpi-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path_ = pattern;
    }
    ~ScratchDir()
    {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;
    [[nodiscard]] const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

void write_file(const fs::path& path, const Table& bytes)
{
    std::ofstream out(path, std::ios::binary);
    std::for_each(bytes.begin(), bytes.end(), [&](uint8_t b) { out.put(static_cast<char>(b)); });
    REQUIRE(out.good());
}

Table read_file(const fs::path& path)
{
    const auto bytes = minivmm::test::file_contents_u8(path);
    return Table(bytes.begin(), bytes.end());
}

std::string read_text(const fs::path& path)
{
    return minivmm::test::file_contents(path);
}

// Lines of iasl's output that report a problem ("Error", "Warning", "error(s)", ...).
std::vector<std::string> complaints(const test::ProcessResult& result)
{
    std::vector<std::string> out;
    std::stringstream lines(result.out + "\n" + result.err);
    std::string line;
    while (std::getline(lines, line)) {
        std::string lower = line;
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
        const bool summary_ok = lower.find(" 0 errors, 0 warnings") != std::string::npos;
        if (!summary_ok && (lower.find("error") != std::string::npos || lower.find("warning") != std::string::npos)) {
            out.push_back(line);
        }
    }
    return out;
}

struct Verdict {
    bool disassembled = false; // exit 0, no complaints
    bool round_trip = false;   // recompiled without complaints to the same bytes
    std::string dsl;
    std::string log;
};

// Disassembles `table` (named `name`.dat in `dir`) and compiles the result back.
Verdict check_with_iasl(const std::string& iasl, const fs::path& dir, const std::string& name, const Table& table)
{
    Verdict verdict;
    const fs::path dat = dir / (name + ".dat");
    write_file(dat, table);
    const auto disassembly = test::run_process({iasl, "-d", dat.string()});
    verdict.log = "$ iasl -d " + dat.string() + "\n" + disassembly.out + disassembly.err;
    verdict.disassembled = disassembly.exit_code == 0 && complaints(disassembly).empty();
    if (disassembly.exit_code != 0) {
        return verdict;
    }
    const fs::path dsl = dir / (name + ".dsl");
    verdict.dsl = read_text(dsl);

    const bool is_aml = name.rfind("dsdt", 0) == 0;
    const fs::path prefix = dir / ("roundtrip-" + name);
    std::vector<std::string> argv{iasl};
    if (is_aml) {
        argv.emplace_back("-oa"); // no optimizations: keep \_SB_ and \_S5_ as written
    }
    argv.insert(argv.end(), {"-p", prefix.string(), dsl.string()});
    const auto compile = test::run_process(argv);
    verdict.log += "$ iasl " + dsl.string() + "\n" + compile.out + compile.err;
    if (compile.exit_code != 0 || !complaints(compile).empty()) {
        return verdict;
    }
    Table again = read_file(prefix.string() + ".aml");
    Table ours = table;
    if (again.size() != ours.size()) {
        return verdict;
    }
    // iasl writes its own checksum (offset 9) and creator ID and revision (28-35).
    for (auto* t : {&again, &ours}) {
        (*t)[9] = 0;
        std::fill(t->begin() + 28, t->begin() + 36, uint8_t{0});
    }
    verdict.round_trip = again == ours;
    return verdict;
}

std::vector<AcpiDevice> dsdt_devices()
{
    AcpiDevice pvpanic;
    pvpanic.hid = "QEMU0001";
    pvpanic.mmio = AcpiDevice::MmioRange{0xfeff0000, 2};
    pvpanic.name = "PEVT";
    const auto slots = arch::virtio_mmio_slots(2);
    return {virtio_mmio_acpi_device(slots[0]), virtio_mmio_acpi_device(slots[1]), pvpanic};
}

// The first Device's PkgLength, shrunk: still "disassembled" by iasl -d.
Table dsdt_with_broken_pkg_length()
{
    Table dsdt = build_dsdt(dsdt_devices());
    const uint8_t device_op[] = {0x5b, 0x82};
    const auto it = std::search(dsdt.begin(), dsdt.end(), std::begin(device_op), std::end(device_op));
    REQUIRE(it != dsdt.end());
    const auto pkg = static_cast<std::size_t>(it - dsdt.begin()) + 2;
    REQUIRE(dsdt[pkg] < 0x40); // one-byte form
    dsdt[pkg] = static_cast<uint8_t>(dsdt[pkg] - 0x10);
    dsdt[9] = 0;
    dsdt[9] = checksum(dsdt);
    return dsdt;
}

} // namespace

TEST_CASE("ACPI: iasl disassembles every table and compiles it back to the same bytes", "[unit][acpi][iasl]")
{
    const auto iasl = find_iasl();
    if (!iasl) {
        WARN("iasl (Debian package acpica-tools) is not on PATH: SKIPPING the third-party ACPI table check");
        return;
    }
    ScratchDir dir;
    const std::vector<uint64_t> xsdt_entries{0xe0050, 0xe0170};
    const std::vector<std::pair<std::string, Table>> tables{
        {"dsdt", build_dsdt(dsdt_devices())}, {"facp", build_fadt(0xe0200)}, {"apic", build_madt(4)},
        {"apic300", build_madt(300)},         {"xsdt", build_xsdt(xsdt_entries)},
    };
    for (const auto& [name, table] : tables) {
        const Verdict verdict = check_with_iasl(*iasl, dir.path(), name, table);
        INFO(verdict.log);
        CHECK(verdict.disassembled);
        CHECK(verdict.round_trip);
        if (name == "dsdt") {
            for (const char* expected : {"LNRO0005", "_S5_", "PNP0501", "QEMU0001", "Device (COM1)", "Device (VR01)",
                                         "Memory32Fixed (ReadWrite,", "0xD0001000",
                                         "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, )",
                                         "IRQNoFlags ()"}) {
                INFO(expected);
                CHECK(verdict.dsl.find(expected) != std::string::npos);
            }
        }
        if (name == "facp") {
            CHECK(verdict.dsl.find("Hardware Reduced (V5) : 1") != std::string::npos);
            CHECK(verdict.dsl.find("Reset Register Supported (V2) : 1") != std::string::npos);
        }
    }
}

TEST_CASE("ACPI: the iasl check fails for broken tables", "[unit][acpi][iasl]")
{
    const auto iasl = find_iasl();
    if (!iasl) {
        WARN("iasl (Debian package acpica-tools) is not on PATH: SKIPPING the third-party ACPI table check");
        return;
    }
    ScratchDir dir;
    SECTION("a Device with a wrong PkgLength: iasl -d takes it, the round trip does not")
    {
        const Verdict verdict = check_with_iasl(*iasl, dir.path(), "dsdt-bad-pkglength", dsdt_with_broken_pkg_length());
        INFO(verdict.log);
        CHECK_FALSE(verdict.round_trip);
    }
    SECTION("a wrong checksum: iasl warns")
    {
        Table dsdt = build_dsdt(dsdt_devices());
        dsdt[9] = static_cast<uint8_t>(dsdt[9] ^ 0x55);
        const Verdict verdict = check_with_iasl(*iasl, dir.path(), "dsdt-bad-checksum", dsdt);
        INFO(verdict.log);
        CHECK_FALSE(verdict.disassembled);
        CHECK(verdict.log.find("Incorrect checksum") != std::string::npos);
    }
    SECTION("a length beyond the table's end: iasl -d fails")
    {
        Table madt = build_madt(2);
        madt[4] = static_cast<uint8_t>(madt[4] + 16);
        madt[9] = 0;
        madt[9] = checksum(madt);
        const Verdict verdict = check_with_iasl(*iasl, dir.path(), "apic-bad-length", madt);
        INFO(verdict.log);
        CHECK_FALSE(verdict.disassembled);
        CHECK_FALSE(verdict.round_trip);
    }
}
