// A KVM exit decoded once into a typed value (kvm-ioctls' VcpuExit idea): the run loop
// switches on the variant and never touches the kvm_run union again.
#pragma once

#include "kvm/vcpu_fd.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace minivmm::vcpu::exits {

struct IoIn {
    uint16_t port;
    uint8_t size;     // bytes per element: 1, 2 or 4
    std::span<uint8_t> data; // size * count bytes (string I/O repeats)
};
struct IoOut {
    uint16_t port;
    uint8_t size;
    std::span<const uint8_t> data;
};
struct MmioRead {
    uint64_t address;
    std::span<uint8_t> data;
};
struct MmioWrite {
    uint64_t address;
    std::span<const uint8_t> data;
};
struct Hlt {};
struct Shutdown {}; // triple fault
struct SystemEvent {
    uint32_t type; // KVM_SYSTEM_EVENT_*
};
struct FailEntry {
    uint64_t reason;
    uint32_t cpu;
};
struct InternalError {
    uint32_t suberror;
    std::vector<uint64_t> data;
    std::vector<uint8_t> instruction_bytes; // when KVM supplied them
};
struct Interrupted {}; // KVM_RUN returned EINTR/EAGAIN or KVM_EXIT_INTR
struct Other {
    uint32_t reason;
};

} // namespace minivmm::vcpu::exits

namespace minivmm::vcpu {

using VcpuExit = std::variant<exits::IoIn, exits::IoOut, exits::MmioRead, exits::MmioWrite, exits::Hlt,
                              exits::Shutdown, exits::SystemEvent, exits::FailEntry, exits::InternalError,
                              exits::Interrupted, exits::Other>;

// Decodes the exit that the last KVM_RUN left in the vCPU's kvm_run area.
[[nodiscard]] VcpuExit decode_exit(const kvm::VcpuFd& vcpu);

[[nodiscard]] std::string exit_reason_name(uint32_t reason);

} // namespace minivmm::vcpu
