// Image format magics (QEMU's block/*.c probe functions).
#include "backends/block/image_probe.hpp"

#include <array>
#include <cstring>

namespace minivmm::backends {

namespace {

using namespace std::string_view_literals;

struct Magic {
    std::size_t offset;
    std::string_view bytes;
    std::string_view name;
};

// Formats QEMU would probe as something other than raw, besides qcow2.
constexpr std::array<Magic, 10> kOther{{
    {0, "QED\0"sv, "QED"},
    {0, "KDMV", "VMDK"},
    {0, "COWD", "VMDK (version 3)"},
    {0, "# Disk DescriptorFile", "VMDK descriptor"},
    {0, "vhdxfile", "VHDX"},
    {0, "conectix", "VHD (vpc)"},
    {0, "LUKS\xba\xbe", "LUKS"},
    {64, "\x7f\x10\xda\xbe", "VDI"},
    {0, "WithoutFreeSpace", "Parallels"},
    {0, "WithouFreSpacExt", "Parallels"},
}};

bool has(std::span<const std::byte> b, std::size_t offset, std::string_view bytes)
{
    return b.size() >= offset + bytes.size() && std::memcmp(b.data() + offset, bytes.data(), bytes.size()) == 0;
}

uint32_t qcow_version(std::span<const std::byte> b)
{
    return (std::to_integer<uint32_t>(b[4]) << 24) | (std::to_integer<uint32_t>(b[5]) << 16) |
           (std::to_integer<uint32_t>(b[6]) << 8) | std::to_integer<uint32_t>(b[7]);
}

} // namespace

ProbedFormat probe_format(std::span<const std::byte> b)
{
    if (has(b, 0, "QFI\xfb") && b.size() >= 8) {
        // Other versions than 1 are qcow2's to judge (and refuse by number).
        return qcow_version(b) == 1 ? ProbedFormat::Other : ProbedFormat::Qcow2;
    }
    return other_format_name(b).empty() ? ProbedFormat::Raw : ProbedFormat::Other;
}

std::string_view other_format_name(std::span<const std::byte> b)
{
    if (has(b, 0, "QFI\xfb") && b.size() >= 8) {
        return qcow_version(b) == 1 ? "qcow (version 1)" : "";
    }
    for (const auto& m : kOther) {
        if (has(b, m.offset, m.bytes)) {
            return m.name;
        }
    }
    return {};
}

} // namespace minivmm::backends
