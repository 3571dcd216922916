// libFuzzer target: kvm_run exit decoding and dispatch, as a vCPU thread runs it after each
// KVM_RUN (vcpu::decode_exit, Vcpu::dispatch_exit), with whatever a hostile guest and a
// confused kernel could leave in the shared kvm_run area: any exit reason, port I/O with any
// size, count and data offset (inside the area or not), MMIO of any length, system events,
// entry failures and internal errors with any data. The area is a memfd mapped as KVM maps it
// (no /dev/kvm needed); the PIO bus holds the platform devices, the MMIO bus the boot timer.
// The input:
//   reason:u8                      exit_reason (% 40: every KVM_EXIT_* and some unknown)
//   bytes[...]                     the union and what follows (from kvm_run offset 32), then
//                                  the rest of the 3-page area
// Never a crash, an access outside the area, or unbounded memory; an exit that cannot be
// decoded is a minivmm::Error, which the vCPU thread turns into a host failure (exit 125).
#include "arch/x86_64/guest_ram.hpp"
#include "devices/boot_timer.hpp"
#include "fuzz_support.hpp"
#include "kvm/vcpu_fd.hpp"
#include "memory/guest_memory.hpp"
#include "support/platform_bus.hpp"
#include "vcpu/vcpu.hpp"

#include <minivmm/error.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

using namespace minivmm;

namespace {

constexpr std::size_t kRunSize = 3 * 4096; // KVM_GET_VCPU_MMAP_SIZE on x86 (run page, PIO page, ring)
constexpr std::size_t kUnionOffset = offsetof(kvm_run, io);

int run_area_fd()
{
    static const int fd = [] {
        const int f = ::memfd_create("fuzz-kvm-run", MFD_CLOEXEC);
        if (f < 0 || ::ftruncate(f, kRunSize) != 0) {
            std::abort();
        }
        return f;
    }();
    return fd;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    fuzz::silence_logs();
    fuzz::Input in(data, size);
    static const memory::GuestMemory memory = arch::create_guest_ram(1 << 20);
    fuzz::NullOutput output;
    test::PlatformBus platform(output);
    devices::Bus mmio("MMIO");
    mmio.add(0xc000'0000, 0x1000, std::make_shared<devices::BootTimer>([] {}), "boot timer");

    kvm::VcpuFd fd(util::UniqueFd(::dup(run_area_fd())), kRunSize);
    // reinterpret_cast: the mapping is raw bytes, as KVM's is.
    auto* area = reinterpret_cast<uint8_t*>(&fd.run_state());
    std::memset(area, 0, kRunSize);
    fd.run_state().exit_reason = in.take<uint8_t>() % 40;
    const auto rest = in.rest();
    std::memcpy(area + kUnionOffset, rest.data(), std::min(rest.size(), kRunSize - kUnionOffset));

    int stops = 0;
    vcpu::Vcpu vcpu(0, std::move(fd), platform.pio, mmio, memory, [&stops](const vcpu::VcpuStop&) { ++stops; });
    try {
        const bool goes_on = vcpu.dispatch_exit();
        if (goes_on == (stops != 0)) {
            __builtin_trap(); // a vCPU stops exactly when it reported why
        }
    } catch (const Error&) {
        // What the vCPU thread turns into a host failure (VcpuStop::HostFailure): an exit it
        // cannot decode, such as I/O data outside the area.
    }
    return 0;
}
