#include "vmm/exit_policy.hpp"

namespace minivmm::vmm {

ExitStatus exit_status_for(const vcpu::VcpuStop& stop)
{
    using Kind = vcpu::VcpuStop::Kind;
    switch (stop.kind) {
    case Kind::PowerOff:
        return ExitStatus::power_off();
    case Kind::Reboot:
        return ExitStatus::reboot();
    case Kind::GuestCrash:
    case Kind::TripleFault:
    case Kind::EntryFailure:
    case Kind::InternalError:
        return ExitStatus::crash(stop.detail);
    case Kind::HostFailure:
        break;
    }
    return ExitStatus::host_failure(stop.detail);
}

} // namespace minivmm::vmm
