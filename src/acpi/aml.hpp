// A writer for the ACPI Machine Language subset the DSDT needs (ACPI 6.5 chapter 20 "ACPI
// Machine Language Specification") and for the resource descriptors of `_CRS` buffers
// (section 6.4 "Resource Data Types for ACPI"). Each function returns the exact bytes of one
// term; terms compose by nesting, e.g.
//   aml::device("COM1", {aml::name("_HID", aml::eisa_id("PNP0501")), ...})
// Left out: operators and control flow beyond Method/Return, fields, operation regions.
// Integers are encoded for a revision-2 definition block (64-bit integers).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace minivmm::acpi::aml {

using Bytes = std::vector<uint8_t>;

// Appends the low `size` bytes of `value`, little-endian (AML's and the descriptors' byte order).
void append_le(Bytes& out, uint64_t value, unsigned size);

// 20.2.4 PkgLength: `length` counts the PkgLength bytes themselves and what follows
// them; 1 to 4 bytes, at most 2^28 - 1. HostError if larger.
[[nodiscard]] Bytes pkg_length(uint32_t length);
// PkgLength followed by `body`, sized to include its own encoding.
[[nodiscard]] Bytes with_pkg_length(std::span<const uint8_t> body);

// 20.2.2 NameString: "_HID", "\\_SB_", "\\_SB_.COM1", "^PARN"; segments shorter than four
// characters are padded with '_' as ASL does. ConfigError for an invalid name.
[[nodiscard]] Bytes name_string(std::string_view path);

// 20.2.3 integers, in the smallest form: ZeroOp, OneOp, OnesOp (all 64 bits set),
// BytePrefix, WordPrefix, DWordPrefix, QWordPrefix.
[[nodiscard]] Bytes integer(uint64_t value);
// 20.2.3 String: StringPrefix, ASCII characters 0x01-0x7f, NullChar. ConfigError otherwise.
[[nodiscard]] Bytes string(std::string_view text);
// 20.2.5.4 DefBuffer: BufferOp PkgLength BufferSize ByteList.
[[nodiscard]] Bytes buffer(std::span<const uint8_t> bytes);
// 20.2.5.4 DefPackage: PackageOp PkgLength NumElements PackageElementList (up to 255).
[[nodiscard]] Bytes package(const std::vector<Bytes>& elements);

// 20.2.5.1 DefName: NameOp NameString DataRefObject.
[[nodiscard]] Bytes name(std::string_view path, const Bytes& value);
// 20.2.5.1 DefScope: ScopeOp PkgLength NameString TermList.
[[nodiscard]] Bytes scope(std::string_view path, const std::vector<Bytes>& terms);
// 20.2.5.2 DefDevice: ExtOpPrefix DeviceOp PkgLength NameString TermList.
[[nodiscard]] Bytes device(std::string_view path, const std::vector<Bytes>& terms);
// 20.2.5.2 DefMethod: MethodOp PkgLength NameString MethodFlags TermList
// (MethodFlags: bits 2:0 ArgCount, bit 3 SerializeFlag, SyncLevel 0).
[[nodiscard]] Bytes method(std::string_view path, uint8_t arg_count, bool serialized, const std::vector<Bytes>& terms);
// 20.2.5.3 DefReturn: ReturnOp ArgObject.
[[nodiscard]] Bytes return_value(const Bytes& value);

// The 32-bit compressed EISA ID of the ASL EISAID macro (19.6.35) for a 7-character ID
// "AAA####" (three letters, four hex digits): EISAID("PNP0501") == 0x0105D041.
// ConfigError if `id` does not have that form.
[[nodiscard]] uint32_t eisa_id_value(std::string_view id);
[[nodiscard]] bool is_eisa_id(std::string_view id);
// The same as an AML integer, for a `_HID` or `_CID`.
[[nodiscard]] Bytes eisa_id(std::string_view id);

// Section 6.4 resource descriptors, for resource_template().
enum class Trigger : uint8_t { Level, Edge };
enum class Polarity : uint8_t { ActiveHigh, ActiveLow };
enum class Sharing : uint8_t { Exclusive, Shared };

// 6.4.2.1 IRQ descriptor without the flags byte (IRQNoFlags: edge, active high, exclusive).
[[nodiscard]] Bytes irq_no_flags(uint8_t irq);
// 6.4.2.5 I/O port descriptor, 16-bit decode.
[[nodiscard]] Bytes io(uint16_t minimum, uint16_t maximum, uint8_t alignment, uint8_t length);
// 6.4.3.4 32-bit fixed memory range descriptor.
[[nodiscard]] Bytes memory32_fixed(bool writable, uint32_t base, uint32_t length);
// 6.4.3.6 extended interrupt descriptor, ResourceConsumer, no resource source.
[[nodiscard]] Bytes interrupt(Trigger trigger, Polarity polarity, Sharing sharing, std::span<const uint32_t> gsis);
// 6.4.2.9 end tag; checksum 0 means "the descriptors are valid, no checksum".
[[nodiscard]] Bytes end_tag();
// A ResourceTemplate: a Buffer holding the descriptors and an end tag.
[[nodiscard]] Bytes resource_template(const std::vector<Bytes>& descriptors);

} // namespace minivmm::acpi::aml
