// AML encodings of ACPI 6.5 chapter 20 (section numbers at each function in aml.hpp).
#include "acpi/aml.hpp"

#include <minivmm/error.hpp>

#include <fmt/format.h>

#include <array>

namespace minivmm::acpi::aml {

namespace {

// 20.2.2 and 20.2.3 prefixes and 20.2.5 opcodes.
constexpr uint8_t kZeroOp = 0x00;
constexpr uint8_t kOneOp = 0x01;
constexpr uint8_t kOnesOp = 0xff;
constexpr uint8_t kBytePrefix = 0x0a;
constexpr uint8_t kWordPrefix = 0x0b;
constexpr uint8_t kDWordPrefix = 0x0c;
constexpr uint8_t kStringPrefix = 0x0d;
constexpr uint8_t kQWordPrefix = 0x0e;
constexpr uint8_t kNameOp = 0x08;
constexpr uint8_t kScopeOp = 0x10;
constexpr uint8_t kBufferOp = 0x11;
constexpr uint8_t kPackageOp = 0x12;
constexpr uint8_t kMethodOp = 0x14;
constexpr uint8_t kReturnOp = 0xa4;
constexpr uint8_t kExtOpPrefix = 0x5b;
constexpr uint8_t kDeviceOp = 0x82; // after ExtOpPrefix
constexpr uint8_t kRootChar = '\\';
constexpr uint8_t kParentPrefixChar = '^';
constexpr uint8_t kDualNamePrefix = 0x2e;
constexpr uint8_t kMultiNamePrefix = 0x2f;
constexpr uint8_t kNullName = 0x00;

// 20.2.4: one byte holds 6 bits; two to four bytes hold 4 + 8 per following byte.
constexpr uint32_t kPkgLengthMax = (1u << 28) - 1;
constexpr std::array<uint32_t, 4> kPkgLengthLimit = {1u << 6, 1u << 12, 1u << 20, 1u << 28};

void append(Bytes& out, std::span<const uint8_t> bytes) { out.insert(out.end(), bytes.begin(), bytes.end()); }

Bytes join(const std::vector<Bytes>& terms)
{
    Bytes out;
    for (const auto& term : terms) {
        append(out, term);
    }
    return out;
}

// Opcode(s), PkgLength, then `body`.
Bytes package_op(std::span<const uint8_t> opcode, const Bytes& body)
{
    Bytes out(opcode.begin(), opcode.end());
    append(out, with_pkg_length(body));
    return out;
}

// 20.2.2 NameSeg: LeadNameChar ('A'-'Z', '_') then three NameChars (also '0'-'9').
std::array<uint8_t, 4> name_seg(std::string_view seg, std::string_view path)
{
    if (seg.empty() || seg.size() > 4) {
        throw ConfigError(fmt::format("AML name '{}': segment '{}' is not 1 to 4 characters", path, seg));
    }
    std::array<uint8_t, 4> out{'_', '_', '_', '_'};
    for (std::size_t i = 0; i < seg.size(); ++i) {
        const char c = seg[i];
        const bool lead = (c >= 'A' && c <= 'Z') || c == '_';
        if (!lead && !(i > 0 && c >= '0' && c <= '9')) {
            throw ConfigError(fmt::format("AML name '{}': bad character '{}' in segment '{}'", path, c, seg));
        }
        out[i] = static_cast<uint8_t>(c);
    }
    return out;
}

} // namespace

void append_le(Bytes& out, uint64_t value, unsigned size)
{
    for (unsigned i = 0; i < size; ++i) {
        out.push_back(static_cast<uint8_t>(value >> (8 * i)));
    }
}

Bytes pkg_length(uint32_t length)
{
    if (length > kPkgLengthMax) {
        throw HostError(fmt::format("AML package of {} bytes exceeds the PkgLength limit", length));
    }
    if (length < kPkgLengthLimit[0]) {
        return {static_cast<uint8_t>(length)};
    }
    // Bits 7:6 of the lead byte count the following bytes; its bits 3:0 are the low nibble.
    unsigned following = 1;
    while (length >= kPkgLengthLimit[following]) {
        ++following;
    }
    Bytes out{static_cast<uint8_t>((following << 6) | (length & 0x0f))};
    append_le(out, length >> 4, following);
    return out;
}

Bytes with_pkg_length(std::span<const uint8_t> body)
{
    for (uint32_t size = 1; size <= 4; ++size) {
        const uint64_t total = uint64_t{size} + body.size();
        if (total < kPkgLengthLimit[size - 1]) {
            Bytes out = pkg_length(static_cast<uint32_t>(total));
            append(out, body);
            return out;
        }
    }
    throw HostError(fmt::format("AML package body of {} bytes exceeds the PkgLength limit", body.size()));
}

Bytes name_string(std::string_view path)
{
    Bytes out;
    std::string_view rest = path;
    if (!rest.empty() && rest.front() == '\\') {
        out.push_back(kRootChar);
        rest.remove_prefix(1);
    } else {
        while (!rest.empty() && rest.front() == '^') {
            out.push_back(kParentPrefixChar);
            rest.remove_prefix(1);
        }
    }
    std::vector<std::array<uint8_t, 4>> segs;
    while (!rest.empty()) {
        const auto dot = rest.find('.');
        segs.push_back(name_seg(rest.substr(0, dot), path));
        rest = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);
        if (dot != std::string_view::npos && rest.empty()) {
            throw ConfigError(fmt::format("AML name '{}' ends with '.'", path));
        }
    }
    if (segs.size() > 255) {
        throw ConfigError(fmt::format("AML name '{}' has more than 255 segments", path));
    }
    if (segs.empty()) {
        if (out.empty()) {
            throw ConfigError("empty AML name");
        }
        out.push_back(kNullName); // "\" alone, or only parent prefixes
    } else if (segs.size() == 2) {
        out.push_back(kDualNamePrefix);
    } else if (segs.size() > 2) {
        out.push_back(kMultiNamePrefix);
        out.push_back(static_cast<uint8_t>(segs.size()));
    }
    for (const auto& seg : segs) {
        append(out, seg);
    }
    return out;
}

Bytes integer(uint64_t value)
{
    if (value == 0) {
        return {kZeroOp};
    }
    if (value == 1) {
        return {kOneOp};
    }
    if (value == UINT64_MAX) {
        return {kOnesOp};
    }
    Bytes out;
    if (value <= UINT8_MAX) {
        out.push_back(kBytePrefix);
        append_le(out, value, 1);
    } else if (value <= UINT16_MAX) {
        out.push_back(kWordPrefix);
        append_le(out, value, 2);
    } else if (value <= UINT32_MAX) {
        out.push_back(kDWordPrefix);
        append_le(out, value, 4);
    } else {
        out.push_back(kQWordPrefix);
        append_le(out, value, 8);
    }
    return out;
}

Bytes string(std::string_view text)
{
    Bytes out{kStringPrefix};
    for (const char c : text) {
        const auto code = static_cast<unsigned char>(c);
        if (code == 0 || code > 0x7f) {
            throw ConfigError(fmt::format("AML string '{}' holds a character outside 0x01-0x7f", text));
        }
        out.push_back(static_cast<uint8_t>(c));
    }
    out.push_back(0); // NullChar
    return out;
}

Bytes buffer(std::span<const uint8_t> bytes)
{
    Bytes body = integer(bytes.size()); // BufferSize
    append(body, bytes);
    return package_op(std::array{kBufferOp}, body);
}

Bytes package(const std::vector<Bytes>& elements)
{
    if (elements.size() > 255) {
        throw HostError("an AML Package holds at most 255 elements; minivmm emits no VarPackage");
    }
    Bytes body{static_cast<uint8_t>(elements.size())}; // NumElements
    append(body, join(elements));
    return package_op(std::array{kPackageOp}, body);
}

Bytes name(std::string_view path, const Bytes& value)
{
    Bytes out{kNameOp};
    append(out, name_string(path));
    append(out, value);
    return out;
}

Bytes scope(std::string_view path, const std::vector<Bytes>& terms)
{
    Bytes body = name_string(path);
    append(body, join(terms));
    return package_op(std::array{kScopeOp}, body);
}

Bytes device(std::string_view path, const std::vector<Bytes>& terms)
{
    Bytes body = name_string(path);
    append(body, join(terms));
    return package_op(std::array{kExtOpPrefix, kDeviceOp}, body);
}

Bytes method(std::string_view path, uint8_t arg_count, bool serialized, const std::vector<Bytes>& terms)
{
    if (arg_count > 7) {
        throw HostError(fmt::format("AML method '{}' with {} arguments: at most 7", path, arg_count));
    }
    Bytes body = name_string(path);
    body.push_back(static_cast<uint8_t>(arg_count | (serialized ? 0x08 : 0x00)));
    append(body, join(terms));
    return package_op(std::array{kMethodOp}, body);
}

Bytes return_value(const Bytes& value)
{
    // Reserved first: a one-byte vector grown by insert() trips GCC 12's -Warray-bounds at -O3.
    Bytes out;
    out.reserve(1 + value.size());
    out.push_back(kReturnOp);
    append(out, value);
    return out;
}

bool is_eisa_id(std::string_view id)
{
    if (id.size() != 7) {
        return false;
    }
    for (std::size_t i = 0; i < 3; ++i) {
        if (id[i] < 'A' || id[i] > 'Z') {
            return false;
        }
    }
    for (std::size_t i = 3; i < 7; ++i) {
        const char c = id[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return true;
}

uint32_t eisa_id_value(std::string_view id)
{
    if (!is_eisa_id(id)) {
        throw ConfigError(fmt::format("'{}' is not an EISA ID (three letters A-Z, four hex digits)", id));
    }
    // Three 5-bit letters ('A' = 1) then the 16-bit product number, stored big-endian:
    // the first letter's bits land in the dword's lowest byte.
    const auto letter = [&](std::size_t i) { return static_cast<uint32_t>(id[i] - 'A' + 1); };
    const auto hex = [&](std::size_t i) {
        const char c = id[i];
        return static_cast<uint32_t>(c <= '9' ? c - '0' : c - 'A' + 10);
    };
    const uint32_t vendor = (letter(0) << 10) | (letter(1) << 5) | letter(2);
    const uint32_t product = (hex(3) << 12) | (hex(4) << 8) | (hex(5) << 4) | hex(6);
    const uint32_t big_endian = (vendor << 16) | product;
    return __builtin_bswap32(big_endian);
}

Bytes eisa_id(std::string_view id) { return integer(eisa_id_value(id)); }

} // namespace minivmm::acpi::aml
