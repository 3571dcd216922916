// kvm_run exit decoding on a kvm_run area of our own (a memfd mapped as KVM maps it): what the
// vCPU loop gets for an I/O exit, and the exits no kernel should give, which must end the run
// as a host failure rather than make the loop spin (found by fuzz_vcpu_exit).
#include "kvm/vcpu_fd.hpp"
#include "vcpu/vcpu_exit.hpp"

#include <minivmm/error.hpp>

#include <catch2/catch.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

using namespace minivmm;

namespace {

constexpr std::size_t kRunSize = 3 * 4096;

kvm::VcpuFd fake_vcpu()
{
    util::UniqueFd fd(::memfd_create("test-kvm-run", MFD_CLOEXEC));
    REQUIRE(fd);
    REQUIRE(::ftruncate(fd.get(), kRunSize) == 0);
    return kvm::VcpuFd(std::move(fd), kRunSize);
}

void io_exit(kvm_run& run, uint8_t direction, uint8_t size, uint16_t port, uint32_t count)
{
    run.exit_reason = KVM_EXIT_IO;
    run.io.direction = direction;
    run.io.size = size;
    run.io.port = port;
    run.io.count = count;
    run.io.data_offset = 4096;
}

} // namespace

TEST_CASE("vCPU exit: port I/O decodes to its port, element size and data", "[unit][vcpu]")
{
    auto vcpu = fake_vcpu();
    io_exit(vcpu.run_state(), KVM_EXIT_IO_OUT, 2, 0x3f8, 3);
    const auto exit = vcpu::decode_exit(vcpu);
    const auto* out = std::get_if<vcpu::exits::IoOut>(&exit);
    REQUIRE(out != nullptr);
    CHECK(out->port == 0x3f8);
    CHECK(out->size == 2);
    CHECK(out->data.size() == 6);
}

TEST_CASE("vCPU exit: an element size other than 1, 2 or 4, or data outside the area, is a host failure",
          "[unit][vcpu]")
{
    auto vcpu = fake_vcpu();
    const uint8_t size = GENERATE(uint8_t{0}, uint8_t{3}, uint8_t{8}, uint8_t{255});
    io_exit(vcpu.run_state(), KVM_EXIT_IO_IN, size, 0x3f8, 1);
    CHECK_THROWS_AS(vcpu::decode_exit(vcpu), HostError);
    io_exit(vcpu.run_state(), KVM_EXIT_IO_IN, 4, 0x3f8, 0x40000000);
    CHECK_THROWS_WITH(vcpu::decode_exit(vcpu), Catch::Contains("lies outside the kvm_run area"));
}
