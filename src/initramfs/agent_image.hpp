// The guest agent's executable (guest-agent/: the /init of `minivmm exec`), built with
// minivmm and kept in its read-only data, so that the initramfs is made without any file
// but the kernel's modules. The data comes from a file generated at build time
// (agent_image_data.cpp.in).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace minivmm::initramfs {

[[nodiscard]] std::span<const uint8_t> guest_agent_image();
// SHA-256 of the image, hex: which agent a minivmm carries (minivmm exec --verbose says).
[[nodiscard]] std::string_view guest_agent_sha256();

} // namespace minivmm::initramfs
