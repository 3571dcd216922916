#include "vcpu/vcpu_exit.hpp"

#include <minivmm/error.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace minivmm::vcpu {

VcpuExit decode_exit(const kvm::VcpuFd& vcpu)
{
    kvm_run& run = vcpu.run_state();
    switch (run.exit_reason) {
    case KVM_EXIT_IO: {
        // 1, 2 or 4 bytes per element; anything else would make the dispatch loop spin (0)
        // or split elements, and only a broken kernel or kvm_run area can give it.
        if (run.io.size != 1 && run.io.size != 2 && run.io.size != 4) {
            throw HostError(fmt::format("KVM I/O exit with element size {}", run.io.size));
        }
        auto data = vcpu.io_data();
        if (run.io.direction == KVM_EXIT_IO_OUT) {
            return exits::IoOut{run.io.port, run.io.size, data};
        }
        return exits::IoIn{run.io.port, run.io.size, data};
    }
    case KVM_EXIT_MMIO: {
        const size_t len = std::min<size_t>(run.mmio.len, sizeof(run.mmio.data));
        if (run.mmio.is_write != 0) {
            return exits::MmioWrite{run.mmio.phys_addr, std::span<const uint8_t>(run.mmio.data, len)};
        }
        return exits::MmioRead{run.mmio.phys_addr, std::span<uint8_t>(run.mmio.data, len)};
    }
    case KVM_EXIT_HLT:
        return exits::Hlt{};
    case KVM_EXIT_SHUTDOWN:
        return exits::Shutdown{};
    case KVM_EXIT_SYSTEM_EVENT:
        return exits::SystemEvent{run.system_event.type};
    case KVM_EXIT_FAIL_ENTRY:
        return exits::FailEntry{run.fail_entry.hardware_entry_failure_reason, run.fail_entry.cpu};
    case KVM_EXIT_INTERNAL_ERROR: {
        exits::InternalError error{run.internal.suberror, {}, {}};
        const uint32_t ndata = std::min<uint32_t>(run.internal.ndata, std::size(run.internal.data));
        error.data.assign(run.internal.data, run.internal.data + ndata);
        if (run.internal.suberror == KVM_INTERNAL_ERROR_EMULATION && ndata >= 1 &&
            (run.emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) != 0) {
            const size_t len = std::min<size_t>(run.emulation_failure.insn_size, sizeof(run.emulation_failure.insn_bytes));
            error.instruction_bytes.assign(run.emulation_failure.insn_bytes, run.emulation_failure.insn_bytes + len);
        }
        return error;
    }
    case KVM_EXIT_INTR:
    case KVM_EXIT_IRQ_WINDOW_OPEN:
        return exits::Interrupted{};
    default:
        return exits::Other{run.exit_reason};
    }
}

std::string exit_reason_name(uint32_t reason)
{
    static constexpr const char* kNames[] = {
        "UNKNOWN",   "EXCEPTION", "IO",         "HYPERCALL",       "DEBUG",    "HLT",
        "MMIO",      "IRQ_WINDOW_OPEN", "SHUTDOWN", "FAIL_ENTRY", "INTR",  "SET_TPR",
        "TPR_ACCESS", "S390_SIEIC", "S390_RESET", "DCR",         "NMI",      "INTERNAL_ERROR",
        "OSI",       "PAPR_HCALL", "S390_UCONTROL", "WATCHDOG",   "S390_TSCH", "EPR",
        "SYSTEM_EVENT",
    };
    if (reason < std::size(kNames)) {
        return fmt::format("KVM_EXIT_{}", kNames[reason]);
    }
    return fmt::format("KVM exit {}", reason);
}

} // namespace minivmm::vcpu
