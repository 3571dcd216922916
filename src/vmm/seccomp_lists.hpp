// The system calls every minivmm thread of a kind needs, whatever is configured: the base
// of each thread's seccomp allow-list (docs/architecture.md "Seccomp"). What a device or back
// end calls is not here: each adds its own through VirtioDevice::add_syscalls() when it is
// configured, so a feature that needs a new system call changes only its own file.
#pragma once

#include "util/seccomp_filter.hpp"

namespace minivmm::vmm {

[[nodiscard]] util::SeccompPolicy base_seccomp_policy();

} // namespace minivmm::vmm
