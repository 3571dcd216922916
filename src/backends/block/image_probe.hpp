// Recognising an image format from its first bytes, as QEMU probes: qcow2, or one of the
// formats minivmm does not read (so that, say, a VMDK is not taken for a raw disk), or raw.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace minivmm::backends {

// Bytes a probe looks at: the first sector.
inline constexpr std::size_t kProbeBytes = 512;

enum class ProbedFormat {
    Raw,   // nothing recognised
    Qcow2, // QFI\xfb and a version other than 1 (qcow v1)
    Other, // a format minivmm does not read: other_format_name() says which
};

[[nodiscard]] ProbedFormat probe_format(std::span<const std::byte> first_bytes);
// "qcow (version 1)", "VMDK", ... for ProbedFormat::Other; empty otherwise.
[[nodiscard]] std::string_view other_format_name(std::span<const std::byte> first_bytes);

} // namespace minivmm::backends
