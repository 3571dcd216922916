// What a kernel module says about itself: the NUL-separated "key=value" strings of its ELF
// ".modinfo" section (what `modinfo` prints): name=, depends= (the modules it needs, by name,
// comma-separated) and vermagic= (the kernel release it was built for, then its flags).
// The module file comes from the host but may be anything: every offset and size is checked.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace minivmm::initramfs {

struct ModuleInfo {
    std::string name;                 // "virtio_console" (empty when the module names none)
    std::vector<std::string> depends; // "virtio", "virtio_ring"
    std::string vermagic;             // "6.1.0-57-cloud-amd64 SMP preempt mod_unload modversions "
};

// The module's information, or nullopt when `ko` is not an ELF64 file with a .modinfo section.
[[nodiscard]] std::optional<ModuleInfo> read_modinfo(std::span<const uint8_t> ko);

// The kernel release of a vermagic string: its first word.
[[nodiscard]] std::string vermagic_release(const std::string& vermagic);

} // namespace minivmm::initramfs
