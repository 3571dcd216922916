// AML encodings byte for byte against ACPI 6.5 chapter 20 ("ACPI Machine Language
// Specification") and section 6.4 ("Resource Data Types for ACPI"). The expected bytes are
// worked out by hand from the grammar; the iasl round trip (test_acpi_iasl.cpp) checks the
// same encodings against a third-party compiler.
#include "acpi/aml.hpp"

#include <minivmm/error.hpp>

#include <catch2/catch.hpp>

#include <array>

using namespace minivmm;
namespace aml = minivmm::acpi::aml;
using Bytes = aml::Bytes;

TEST_CASE("AML: PkgLength in its 1- to 4-byte forms (20.2.4)", "[unit][acpi]")
{
    // One byte: bits 5:0. More: bits 7:6 count the following bytes, bits 3:0 are the low
    // nibble, each following byte the next 8 bits.
    CHECK(aml::pkg_length(0) == Bytes{0x00});
    CHECK(aml::pkg_length(63) == Bytes{0x3f});
    CHECK(aml::pkg_length(64) == Bytes{0x40, 0x04});
    CHECK(aml::pkg_length(0x123) == Bytes{0x43, 0x12});
    CHECK(aml::pkg_length(4095) == Bytes{0x4f, 0xff});
    CHECK(aml::pkg_length(4096) == Bytes{0x80, 0x00, 0x01});
    CHECK(aml::pkg_length(1048575) == Bytes{0x8f, 0xff, 0xff});
    CHECK(aml::pkg_length(1048576) == Bytes{0xc0, 0x00, 0x00, 0x01});
    CHECK(aml::pkg_length(268435455) == Bytes{0xcf, 0xff, 0xff, 0xff});
    CHECK_THROWS_AS(aml::pkg_length(268435456), HostError);
}

TEST_CASE("AML: PkgLength counts its own bytes", "[unit][acpi]")
{
    // The encoded PkgLength in front of a body of `body` bytes.
    const auto prefix = [](std::size_t body) {
        const Bytes out = aml::with_pkg_length(Bytes(body, 0xaa));
        REQUIRE(out.size() > body);
        return Bytes(out.begin(), out.end() - static_cast<std::ptrdiff_t>(body));
    };
    CHECK(prefix(62) == Bytes{0x3f});             // 62 + 1 = 63
    CHECK(prefix(63) == Bytes{0x41, 0x04});       // 63 + 2 = 65
    CHECK(prefix(4093) == Bytes{0x4f, 0xff});     // 4093 + 2 = 4095
    CHECK(prefix(4094) == Bytes{0x81, 0x00, 0x01}); // 4094 + 3 = 4097
    CHECK(prefix(1048572) == Bytes{0x8f, 0xff, 0xff});       // 1048575
    CHECK(prefix(1048573) == Bytes{0xc1, 0x00, 0x00, 0x01}); // 1048573 + 4 = 1048577
}

TEST_CASE("AML: NameString (20.2.2)", "[unit][acpi]")
{
    CHECK(aml::name_string("_HID") == Bytes{'_', 'H', 'I', 'D'});
    CHECK(aml::name_string("_SB") == Bytes{'_', 'S', 'B', '_'}); // padded with '_'
    CHECK(aml::name_string("\\_SB_") == Bytes{0x5c, '_', 'S', 'B', '_'});
    // DualNamePrefix 0x2e for two segments.
    CHECK(aml::name_string("\\_SB_.COM1") == Bytes{0x5c, 0x2e, '_', 'S', 'B', '_', 'C', 'O', 'M', '1'});
    // MultiNamePrefix 0x2f and a segment count for more.
    CHECK(aml::name_string("\\_SB_.PCI0.LPC") ==
          Bytes{0x5c, 0x2f, 0x03, '_', 'S', 'B', '_', 'P', 'C', 'I', '0', 'L', 'P', 'C', '_'});
    CHECK(aml::name_string("^^FOO") == Bytes{0x5e, 0x5e, 'F', 'O', 'O', '_'});
    CHECK(aml::name_string("\\") == Bytes{0x5c, 0x00}); // the root: RootChar NullName
    CHECK_THROWS_AS(aml::name_string(""), ConfigError);
    CHECK_THROWS_AS(aml::name_string("1ABC"), ConfigError);  // a digit cannot lead
    CHECK_THROWS_AS(aml::name_string("ABCDE"), ConfigError); // five characters
    CHECK_THROWS_AS(aml::name_string("com1"), ConfigError);  // lower case
    CHECK_THROWS_AS(aml::name_string("\\_SB_."), ConfigError);
    CHECK_THROWS_AS(aml::name_string("\\_SB_..COM1"), ConfigError);
}

TEST_CASE("AML: integers in their smallest form (20.2.3)", "[unit][acpi]")
{
    CHECK(aml::integer(0) == Bytes{0x00});                   // ZeroOp
    CHECK(aml::integer(1) == Bytes{0x01});                   // OneOp
    CHECK(aml::integer(UINT64_MAX) == Bytes{0xff});          // OnesOp (revision 2: 64 bits)
    CHECK(aml::integer(2) == Bytes{0x0a, 0x02});             // BytePrefix
    CHECK(aml::integer(0xff) == Bytes{0x0a, 0xff});
    CHECK(aml::integer(0x100) == Bytes{0x0b, 0x00, 0x01});   // WordPrefix
    CHECK(aml::integer(0xffff) == Bytes{0x0b, 0xff, 0xff});
    CHECK(aml::integer(0x10000) == Bytes{0x0c, 0x00, 0x00, 0x01, 0x00}); // DWordPrefix
    CHECK(aml::integer(0xffffffff) == Bytes{0x0c, 0xff, 0xff, 0xff, 0xff});
    CHECK(aml::integer(0x100000000) == Bytes{0x0e, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00}); // QWordPrefix
    CHECK(aml::integer(0xfffffffffffffffe) == Bytes{0x0e, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff});
}

TEST_CASE("AML: String, Buffer, Package (20.2.3, 20.2.5.4)", "[unit][acpi]")
{
    CHECK(aml::string("LNRO0005") == Bytes{0x0d, 'L', 'N', 'R', 'O', '0', '0', '0', '5', 0x00});
    CHECK(aml::string("") == Bytes{0x0d, 0x00});
    CHECK_THROWS_AS(aml::string("caf\xc3\xa9"), ConfigError);
    // BufferOp PkgLength(1 + BufferSize 2 + 3 bytes = 6) BytePrefix 3, bytes.
    CHECK(aml::buffer(std::array<uint8_t, 3>{1, 2, 3}) == Bytes{0x11, 0x06, 0x0a, 0x03, 1, 2, 3});
    // BufferSize 0 is ZeroOp.
    CHECK(aml::buffer({}) == Bytes{0x11, 0x02, 0x00});
    // PackageOp PkgLength NumElements elements.
    CHECK(aml::package({aml::integer(5), aml::integer(0)}) == Bytes{0x12, 0x05, 0x02, 0x0a, 0x05, 0x00});
    CHECK(aml::package({}) == Bytes{0x12, 0x02, 0x00});
}

TEST_CASE("AML: Name, Scope, Device, Method (20.2.5.1-20.2.5.3)", "[unit][acpi]")
{
    CHECK(aml::name("_STA", aml::integer(0xf)) == Bytes{0x08, '_', 'S', 'T', 'A', 0x0a, 0x0f});
    // Name(\_S5_, Package(4){5, 5, 0, 0}): the package body is 7 bytes, PkgLength 8.
    CHECK(aml::name("\\_S5_", aml::package({aml::integer(5), aml::integer(5), aml::integer(0), aml::integer(0)})) ==
          Bytes{0x08, 0x5c, '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00});
    CHECK(aml::scope("\\_SB_", {}) == Bytes{0x10, 0x06, 0x5c, '_', 'S', 'B', '_'});
    // ExtOpPrefix DeviceOp PkgLength(1 + 4 + 6) "COM1" Name(_UID, Zero).
    CHECK(aml::device("COM1", {aml::name("_UID", aml::integer(0))}) ==
          Bytes{0x5b, 0x82, 0x0b, 'C', 'O', 'M', '1', 0x08, '_', 'U', 'I', 'D', 0x00});
    // MethodOp PkgLength NameString MethodFlags TermList: Method(_STA){Return(0x0F)}.
    CHECK(aml::method("_STA", 0, false, {aml::return_value(aml::integer(0xf))}) ==
          Bytes{0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xa4, 0x0a, 0x0f});
    CHECK(aml::method("_DSM", 4, true, {})[6] == 0x0c); // ArgCount 4 | SerializeFlag
    CHECK_THROWS_AS(aml::method("_DSM", 8, false, {}), HostError);
}

TEST_CASE("AML: EISAID compressed IDs (19.6.35)", "[unit][acpi]")
{
    CHECK(aml::eisa_id_value("PNP0501") == 0x0105D041);
    CHECK(aml::eisa_id_value("PNP0A03") == 0x030AD041);
    CHECK(aml::eisa_id_value("PNP0B00") == 0x000BD041);
    CHECK(aml::eisa_id("PNP0501") == Bytes{0x0c, 0x41, 0xd0, 0x05, 0x01});
    CHECK(aml::is_eisa_id("PNP0501"));
    CHECK_FALSE(aml::is_eisa_id("LNRO0005"));
    CHECK_FALSE(aml::is_eisa_id("pnp0501"));
    CHECK_FALSE(aml::is_eisa_id("PNP050G"));
    CHECK_THROWS_AS(aml::eisa_id_value("PNP050"), ConfigError);
}

TEST_CASE("AML: resource descriptors (6.4)", "[unit][acpi]")
{
    // 6.4.2.5 I/O port descriptor: 0x47, decode16, min, max, alignment, length.
    CHECK(aml::io(0x3f8, 0x3f8, 1, 8) == Bytes{0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08});
    // 6.4.2.1 IRQ descriptor, 2 bytes: 0x22, mask (bit n = IRQ n).
    CHECK(aml::irq_no_flags(4) == Bytes{0x22, 0x10, 0x00});
    CHECK(aml::irq_no_flags(9) == Bytes{0x22, 0x00, 0x02});
    CHECK_THROWS_AS(aml::irq_no_flags(16), HostError);
    // 6.4.3.4 Memory32Fixed: 0x86, length 9, read/write, base, length.
    CHECK(aml::memory32_fixed(true, 0xd0000000, 0x1000) ==
          Bytes{0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xd0, 0x00, 0x10, 0x00, 0x00});
    CHECK(aml::memory32_fixed(false, 0xfeff0000, 2)[3] == 0x00);
    // 6.4.3.6 extended interrupt: 0x89, length 2 + 4n, flags, n, GSIs.
    const std::array<uint32_t, 1> five{5};
    CHECK(aml::interrupt(aml::Trigger::Edge, aml::Polarity::ActiveHigh, aml::Sharing::Exclusive, five) ==
          Bytes{0x89, 0x06, 0x00, 0x03, 0x01, 0x05, 0x00, 0x00, 0x00});
    const std::array<uint32_t, 2> two{9, 0x10a};
    CHECK(aml::interrupt(aml::Trigger::Level, aml::Polarity::ActiveLow, aml::Sharing::Shared, two) ==
          Bytes{0x89, 0x0a, 0x00, 0x0d, 0x02, 0x09, 0x00, 0x00, 0x00, 0x0a, 0x01, 0x00, 0x00});
    CHECK_THROWS_AS(aml::interrupt(aml::Trigger::Edge, aml::Polarity::ActiveHigh, aml::Sharing::Exclusive, {}),
                    HostError);
    // 6.4.2.9 end tag with checksum 0.
    CHECK(aml::end_tag() == Bytes{0x79, 0x00});
    // ResourceTemplate(){IRQNoFlags(){4}}: a Buffer of the descriptor and the end tag.
    CHECK(aml::resource_template({aml::irq_no_flags(4)}) ==
          Bytes{0x11, 0x08, 0x0a, 0x05, 0x22, 0x10, 0x00, 0x79, 0x00});
}
