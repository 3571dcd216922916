// What each way a run can end means for its ExitStatus (docs/architecture.md "Exit codes"):
// the one place that maps vCPU stops and platform-device events to reasons and codes. The
// vCPU and the devices report what happened; they never pick an exit code.
#pragma once

#include "vcpu/vcpu.hpp"

#include <minivmm/exit_status.hpp>

namespace minivmm::vmm {

// PowerOff/Reboot -> 0; guest crash, triple fault, entry failure, KVM internal/emulation
// error -> Crash (126); an unexpected exit or a failure on minivmm's side -> HostFailure (125).
[[nodiscard]] ExitStatus exit_status_for(const vcpu::VcpuStop& stop);

// The platform devices' events.
[[nodiscard]] inline ExitStatus guest_panicked() { return ExitStatus::crash("guest kernel panicked (pvpanic)"); }
[[nodiscard]] inline ExitStatus guest_reset() { return ExitStatus::reboot(); }
[[nodiscard]] inline ExitStatus guest_powered_off() { return ExitStatus::power_off(); }
[[nodiscard]] inline ExitStatus guest_debug_exit(int value) { return ExitStatus::debug_exit(value); }

} // namespace minivmm::vmm
