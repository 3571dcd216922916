// What kind of KVM this host has. On a PVM host (kvm_pvm: KVM as a software backend
// inside a guest) guest kernel code is emulated instruction by instruction, guests see the
// host's CPUID, and some instructions stop KVM's emulator; minivmm says so once at start.
#pragma once

namespace minivmm::kvm {

enum class HostKvmKind {
    Hardware, // VMX or SVM
    Pvm,      // the kvm_pvm software backend
};

[[nodiscard]] HostKvmKind detect_host_kvm_kind();

// Logs the PVM warning once per process (a library may create many VMs).
void warn_once_if_pvm(HostKvmKind kind);

} // namespace minivmm::kvm
