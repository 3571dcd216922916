// Resource descriptors for `_CRS` (ACPI 6.5 section 6.4 "Resource Data Types for ACPI").
// Small items (6.4.2) start with a byte holding the item name in bits 6:3 and the length
// in bits 2:0; large items (6.4.3) with bit 7 set, the item name in bits 6:0 and a 16-bit
// length of what follows.
#include "acpi/aml.hpp"

#include <minivmm/error.hpp>

#include <fmt/format.h>

namespace minivmm::acpi::aml {

namespace {

constexpr uint8_t small_item(uint8_t name, uint8_t length) { return static_cast<uint8_t>((name << 3) | length); }
constexpr uint8_t kIrqNoFlagsTag = small_item(0x04, 2); // 0x22
constexpr uint8_t kIoTag = small_item(0x08, 7);         // 0x47
constexpr uint8_t kEndTag = small_item(0x0f, 1);        // 0x79
constexpr uint8_t kMemory32FixedTag = 0x86;
constexpr uint8_t kExtendedInterruptTag = 0x89;

constexpr uint8_t kIoDecode16 = 0x01;        // 6.4.2.5 information byte bit 0
constexpr uint8_t kMemoryReadWrite = 0x01;   // 6.4.3.4 information byte bit 0
constexpr uint8_t kInterruptConsumer = 0x01; // 6.4.3.6 flags: bit 0 consumer,
constexpr uint8_t kInterruptEdge = 0x02;     // bit 1 edge (else level),
constexpr uint8_t kInterruptLow = 0x04;      // bit 2 active low (else high),
constexpr uint8_t kInterruptShared = 0x08;   // bit 3 shared (else exclusive)

} // namespace

Bytes irq_no_flags(uint8_t irq)
{
    if (irq > 15) {
        throw HostError(fmt::format("IRQ descriptor for IRQ {}: only ISA IRQs 0-15", irq));
    }
    Bytes out{kIrqNoFlagsTag};
    append_le(out, 1u << irq, 2); // mask: bit n = IRQ n
    return out;
}

Bytes io(uint16_t minimum, uint16_t maximum, uint8_t alignment, uint8_t length)
{
    Bytes out{kIoTag, kIoDecode16};
    append_le(out, minimum, 2);
    append_le(out, maximum, 2);
    out.push_back(alignment);
    out.push_back(length);
    return out;
}

Bytes memory32_fixed(bool writable, uint32_t base, uint32_t length)
{
    Bytes out{kMemory32FixedTag};
    append_le(out, 9, 2); // information byte, base, length
    out.push_back(writable ? kMemoryReadWrite : uint8_t{0});
    append_le(out, base, 4);
    append_le(out, length, 4);
    return out;
}

Bytes interrupt(Trigger trigger, Polarity polarity, Sharing sharing, std::span<const uint32_t> gsis)
{
    if (gsis.empty() || gsis.size() > 255) {
        throw HostError(fmt::format("interrupt descriptor with {} interrupts: 1 to 255", gsis.size()));
    }
    uint8_t flags = kInterruptConsumer;
    flags |= trigger == Trigger::Edge ? kInterruptEdge : 0;
    flags |= polarity == Polarity::ActiveLow ? kInterruptLow : 0;
    flags |= sharing == Sharing::Shared ? kInterruptShared : 0;
    Bytes out{kExtendedInterruptTag};
    append_le(out, 2 + 4 * gsis.size(), 2); // flags, table length, the table
    out.push_back(flags);
    out.push_back(static_cast<uint8_t>(gsis.size()));
    for (const uint32_t gsi : gsis) {
        append_le(out, gsi, 4);
    }
    return out;
}

Bytes end_tag() { return {kEndTag, 0}; }

Bytes resource_template(const std::vector<Bytes>& descriptors)
{
    Bytes body;
    for (const auto& descriptor : descriptors) {
        body.insert(body.end(), descriptor.begin(), descriptor.end());
    }
    const Bytes end = end_tag();
    body.insert(body.end(), end.begin(), end.end());
    return buffer(body);
}

} // namespace minivmm::acpi::aml
