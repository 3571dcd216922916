// The release a kernel image was built as (what `uname -r` prints in it), read from the image
// itself so that `minivmm exec` can find the kernel's modules (/lib/modules/RELEASE):
//  - a bzImage: the boot protocol's kernel_version field (boot.rst, offset 0x20e: a pointer,
//    less 0x200, to "6.1.0-57-cloud-amd64 (debian-kernel@...) #1 SMP ..."), whose first word
//    is the release;
//  - an ELF vmlinux (or anything else): the linux_banner string, "Linux version RELEASE (",
//    searched in the image (it is in .rodata, uncompressed; a printf format such as
//    "Linux version %s" is skipped).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>

namespace minivmm::loader {

// The release, or nullopt when the image names none (an image from before boot protocol
// 2.00, a stripped or hostile one). Never throws on any input.
[[nodiscard]] std::optional<std::string> kernel_release(std::span<const std::byte> image);

} // namespace minivmm::loader
