#include "kvm/host_kvm.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <mutex>

namespace minivmm::kvm {

HostKvmKind detect_host_kvm_kind()
{
    std::error_code ec;
    // The module's sysfs directory exists when kvm_pvm is loaded (built in or modular).
    return std::filesystem::exists("/sys/module/kvm_pvm", ec) ? HostKvmKind::Pvm : HostKvmKind::Hardware;
}

void warn_once_if_pvm(HostKvmKind kind)
{
    static std::once_flag once;
    if (kind != HostKvmKind::Pvm) {
        return;
    }
    std::call_once(once, [] {
        spdlog::warn("this host's KVM is PVM (kvm_pvm), a software backend: guest kernel code is emulated "
                     "and slow, and some instructions stop its emulator (minivmm then exits 126 with the "
                     "instruction bytes and RIP)");
    });
}

} // namespace minivmm::kvm
