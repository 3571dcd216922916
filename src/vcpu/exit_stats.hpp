// What one vCPU's exits to minivmm were: how many of each kind, and which ports and MMIO
// addresses they hit (the busiest few), with the time spent handling them. A diagnostic
// (Firecracker keeps the same counters as metrics): logged at debug level when the vCPU
// stops, it shows where a boot's exits go (a serial console costs two per byte printed).
// Exits KVM handles itself (page faults, MSRs, CPUID, halts with the in-kernel LAPIC)
// never reach userspace and are not here.
#pragma once

#include "vcpu/vcpu_exit.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace minivmm::vcpu {

class ExitStats final {
public:
    enum class Kind { IoIn, IoOut, MmioRead, MmioWrite, Hlt, Interrupted, Other };
    static constexpr std::size_t kKinds = 7;
    // Distinct (kind, port or address) pairs counted one by one; later ones go to "other".
    static constexpr std::size_t kMaxAddresses = 64;

    void count(const VcpuExit& exit, std::chrono::nanoseconds handling);

    [[nodiscard]] uint64_t total() const;
    [[nodiscard]] uint64_t of(Kind kind) const { return by_kind_[static_cast<std::size_t>(kind)]; }
    // Exits of `kind` at `address` (a port for I/O); 0 for one never seen or not kept.
    [[nodiscard]] uint64_t at(Kind kind, uint64_t address) const;
    // "612 exits, 1.2 ms handling them: io-out 530 (0x3f8 x166, 0x70 x77), io-in 82 (...)"
    [[nodiscard]] std::string summary() const;

private:
    struct Site {
        Kind kind;
        uint64_t address;
        uint64_t count;
    };
    void count_site(Kind kind, uint64_t address);

    std::array<uint64_t, kKinds> by_kind_{};
    std::vector<Site> sites_;
    uint64_t untracked_sites_ = 0;
    std::chrono::nanoseconds handling_{0};
};

} // namespace minivmm::vcpu
