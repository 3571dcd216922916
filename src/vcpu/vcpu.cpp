#include "vcpu/vcpu.hpp"

#include "util/sys_error.hpp"

#include <csignal>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <mutex>

namespace minivmm::vcpu {
namespace {

// The signal that kicks a vCPU thread out of KVM_RUN. Its handler does nothing: the point
// is only that KVM_RUN returns EINTR.
int kick_signal() { return SIGRTMIN; }

void install_kick_handler()
{
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction action {};
        action.sa_handler = [](int) {};
        sigemptyset(&action.sa_mask);
        action.sa_flags = 0; // no SA_RESTART: KVM_RUN must return EINTR
        if (::sigaction(kick_signal(), &action, nullptr) != 0) {
            util::throw_sys_error("sigaction for the vCPU kick signal");
        }
    });
}

void unblock_kick_signal()
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, kick_signal());
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

} // namespace

Vcpu::Vcpu(unsigned index, kvm::VcpuFd fd, const devices::Bus& pio, const devices::Bus& mmio,
           const memory::GuestMemory& memory, ExitRequest request_exit)
    : index_(index), fd_(std::move(fd)), pio_(pio), mmio_(mmio), memory_(memory), request_exit_(std::move(request_exit)),
      log_(fmt::format("vCPU {}", index))
{
    install_kick_handler();
}

Vcpu::~Vcpu()
{
    stop();
    join();
}

void Vcpu::start(std::function<void()> on_start)
{
    thread_ = std::thread([this, on_start = std::move(on_start)] {
        unblock_kick_signal();
        try {
            if (on_start) {
                on_start();
            }
            run_loop();
        } catch (const std::exception& e) {
            request_exit_(VcpuStop{VcpuStop::Kind::HostFailure, fmt::format("vCPU {}: {}", index_, e.what())});
        }
    });
}

void Vcpu::stop()
{
    stopping_ = true;
    std::atomic_ref<uint8_t>(fd_.run_state().immediate_exit).store(1);
    if (thread_.joinable()) {
        ::pthread_kill(thread_.native_handle(), kick_signal());
    }
}

void Vcpu::join()
{
    if (thread_.joinable()) {
        thread_.join();
    }
}

void Vcpu::run_loop()
{
    while (!stopping_) {
        if (fd_.run() < 0) {
            continue; // EINTR/EAGAIN: a kick, or a signal; the loop condition decides
        }
        if (!dispatch_exit()) {
            return;
        }
    }
}

bool Vcpu::handle(const VcpuExit& exit)
{
    return std::visit(
        [this](const auto& e) -> bool {
            using T = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<T, exits::IoIn>) {
                for (size_t off = 0; off + e.size <= e.data.size(); off += e.size) {
                    pio_.read(e.port, e.data.subspan(off, e.size));
                }
                return true;
            } else if constexpr (std::is_same_v<T, exits::IoOut>) {
                for (size_t off = 0; off + e.size <= e.data.size(); off += e.size) {
                    pio_.write(e.port, e.data.subspan(off, e.size));
                }
                return true;
            } else if constexpr (std::is_same_v<T, exits::MmioRead>) {
                mmio_.read(e.address, e.data);
                return true;
            } else if constexpr (std::is_same_v<T, exits::MmioWrite>) {
                mmio_.write(e.address, e.data);
                return true;
            } else if constexpr (std::is_same_v<T, exits::Hlt> || std::is_same_v<T, exits::Interrupted>) {
                // With the in-kernel LAPIC, HLT is handled by KVM; a HLT exit can only mean
                // a halted CPU with nothing to wake it, which the guest may legitimately do.
                return true;
            } else if constexpr (std::is_same_v<T, exits::Shutdown>) {
                spdlog::error("vCPU {}: triple fault; {}", index_, describe_state());
                request_exit_(VcpuStop{VcpuStop::Kind::TripleFault, fmt::format("vCPU {} triple fault", index_)});
                return false;
            } else if constexpr (std::is_same_v<T, exits::SystemEvent>) {
                switch (e.type) {
                case KVM_SYSTEM_EVENT_SHUTDOWN:
                    request_exit_(VcpuStop{VcpuStop::Kind::PowerOff, {}});
                    return false;
                case KVM_SYSTEM_EVENT_RESET:
                    request_exit_(VcpuStop{VcpuStop::Kind::Reboot, {}});
                    return false;
                case KVM_SYSTEM_EVENT_CRASH:
                    request_exit_(
                        VcpuStop{VcpuStop::Kind::GuestCrash, fmt::format("vCPU {} reported a guest crash", index_)});
                    return false;
                default:
                    log_.warn("ignoring system event {}", e.type);
                    return true;
                }
            } else if constexpr (std::is_same_v<T, exits::FailEntry>) {
                spdlog::error("vCPU {}: KVM_EXIT_FAIL_ENTRY, hardware reason {:#x} on host CPU {}; {}", index_,
                              e.reason, e.cpu, describe_state());
                request_exit_(VcpuStop{VcpuStop::Kind::EntryFailure,
                    fmt::format("vCPU {} failed to enter the guest (hardware reason {:#x})", index_, e.reason)});
                return false;
            } else if constexpr (std::is_same_v<T, exits::InternalError>) {
                std::string bytes = e.instruction_bytes.empty() ? instruction_bytes_at_rip()
                                                                : fmt::format("{:02x}", fmt::join(e.instruction_bytes, " "));
                const auto regs = fd_.regs();
                const char* kind = e.suberror == KVM_INTERNAL_ERROR_EMULATION ? "emulation failure"
                                   : e.suberror == KVM_INTERNAL_ERROR_SIMUL_EX ? "simultaneous exceptions"
                                   : e.suberror == KVM_INTERNAL_ERROR_DELIVERY_EV ? "event delivery failure"
                                                                                  : "internal error";
                const std::string why = fmt::format("vCPU {}: KVM {} (suberror {}) at RIP {:#x}, instruction bytes [{}]",
                                                    index_, kind, e.suberror, regs.rip, bytes);
                spdlog::error("{}; data [{:#x}]; {}", why, fmt::join(e.data, ", "), describe_state());
                request_exit_(VcpuStop{VcpuStop::Kind::InternalError, why});
                return false;
            } else {
                spdlog::error("vCPU {}: unexpected {}; {}", index_, exit_reason_name(e.reason), describe_state());
                request_exit_(VcpuStop{VcpuStop::Kind::HostFailure,
                    fmt::format("vCPU {}: unexpected {}", index_, exit_reason_name(e.reason))});
                return false;
            }
        },
        exit);
}

std::string Vcpu::describe_state() const
{
    try {
        const auto r = fd_.regs();
        const auto s = fd_.sregs();
        return fmt::format("rip={:#x} rsp={:#x} rflags={:#x} rax={:#x} rbx={:#x} rcx={:#x} rdx={:#x} rsi={:#x} "
                           "rdi={:#x} cs={:#x} cr0={:#x} cr2={:#x} cr3={:#x} cr4={:#x} efer={:#x}",
                           r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, s.cs.selector, s.cr0,
                           s.cr2, s.cr3, s.cr4, s.efer);
    } catch (const std::exception& e) {
        return fmt::format("registers unavailable: {}", e.what());
    }
}

std::string Vcpu::instruction_bytes_at_rip() const
{
    try {
        const auto regs = fd_.regs();
        const auto sregs = fd_.sregs();
        const auto translation = fd_.translate(sregs.cs.base + regs.rip);
        if (translation.valid == 0) {
            return "unmapped";
        }
        std::array<std::byte, 15> bytes{}; // the longest x86 instruction
        size_t got = 0;
        for (; got < bytes.size(); ++got) {
            auto byte = memory_.try_read_obj<std::byte>(memory::GuestAddress(translation.physical_address + got));
            if (!byte) {
                break;
            }
            bytes[got] = *byte;
        }
        std::string out;
        for (size_t i = 0; i < got; ++i) {
            out += fmt::format("{}{:02x}", i == 0 ? "" : " ", static_cast<unsigned>(bytes[i]));
        }
        return out.empty() ? "not in RAM" : out;
    } catch (const std::exception& e) {
        return fmt::format("unreadable: {}", e.what());
    }
}

} // namespace minivmm::vcpu
