// [kvm]: the project's test guest, booted by the minivmm binary in both image formats.
#include "support/kvm.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <random>

using namespace minivmm::test;

namespace {

auto both_formats() { return GENERATE(GuestImage::Elf, GuestImage::BzImage); }

} // namespace

TEST_CASE("the test guest says hello on the serial console", "[kvm]")
{
    if (!kvm_available()) {
        return;
    }
    const auto image = both_formats();
    INFO("image: " << image_name(image));
    const auto result = run_test_guest(image, "test=hello");
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("minivmm-test-guest: test=hello"));
    CHECK_THAT(result.out, Catch::Contains("Hello from the minivmm test guest"));
}

TEST_CASE("debug-exit values become minivmm's exit code", "[kvm]")
{
    if (!kvm_available()) {
        return;
    }
    const auto image = both_formats();
    const int code = GENERATE(0, 1, 42, 123);
    INFO("image: " << image_name(image) << ", code " << code);
    const auto result = run_test_guest(image, "test=exit code=" + std::to_string(code));
    CHECK(result.exit_code == code);
    CHECK_THAT(result.out, Catch::Contains("test=exit"));
}

TEST_CASE("a guest cannot make minivmm exit with 124-255 (timeout, failure, crash, signals)", "[kvm]")
{
    if (!kvm_available()) {
        return;
    }
    const int value = GENERATE(124, 125, 126, 127, 143, 255);
    const auto result = run_test_guest(GuestImage::Elf, "test=exit code=" + std::to_string(value));
    CHECK(result.exit_code == 123);
    // The exact value is said on stderr.
    CHECK_THAT(result.err, Catch::Contains(fmt::format("guest wrote {} to the debug-exit port (exit code 123", value)));
}

TEST_CASE("every vCPU is started by the guest and reports in", "[kvm]")
{
    if (!kvm_available()) {
        return;
    }
    const auto image = both_formats();
    const unsigned cpus = GENERATE(1U, 2U, 4U);
    INFO("image: " << image_name(image) << ", cpus " << cpus);
    const auto result = run_test_guest(image, "test=smp", {.mem = "128M", .cpus = cpus, .extra = {}});
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("cpus=" + std::to_string(cpus)));
    CHECK_THAT(result.out, Catch::Contains(fmt::format("smp: {} of {} cpus reported", cpus, cpus)));
    for (unsigned id = 1; id < cpus; ++id) {
        CHECK_THAT(result.out, Catch::Contains(fmt::format("cpu: apic id {} reporting", id)));
    }
}

TEST_CASE("RAM on both sides of the MMIO hole is usable", "[kvm]")
{
    if (!kvm_available()) {
        return;
    }
    const auto image = both_formats();
    INFO("image: " << image_name(image));
    const auto result = run_test_guest(image, "test=mem addr=0xbffffff8,0x11ffffff8", {.mem = "3584M", .cpus = 1, .extra = {}});
    CHECK(result.exit_code == 0);
    // The e820 map the guest received: low RAM up to the hole and 512 MiB above 4 GiB.
    CHECK_THAT(result.out, Catch::Contains("100000000"));
    CHECK_THAT(result.out, Catch::Contains("mem:"));
    CHECK_THAT(result.out, Catch::Contains("ok"));
    CHECK_THAT(result.out, Catch::Contains("0x11ffffff8"));
}

TEST_CASE("initrd and command line reach the guest intact", "[kvm]")
{
    if (!kvm_available()) {
        return;
    }
    const auto image = both_formats();
    INFO("image: " << image_name(image));
    std::mt19937 rng(1234);
    std::string initrd(5000, '\0');
    for (auto& c : initrd) {
        c = static_cast<char>(rng());
    }
    const auto path = std::filesystem::temp_directory_path() / "minivmm-test-initrd.bin";
    std::ofstream(path, std::ios::binary) << initrd;
    const std::string cmdline = "test=checksum some=words \"quoted arg\" x=1";
    // No device at all (the virtio-rng is on by default): nothing appends a virtio_mmio.device=
    // word, so the guest's command line is exactly ours.
    const auto result = run_test_guest(image, cmdline,
                                       {.mem = "128M", .cpus = 1, .extra = {"--initrd", path.string(), "--rng", "off"}});
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains(fmt::format("cmdline crc32={:08x} len={}", crc32(cmdline), cmdline.size())));
    CHECK_THAT(result.out, Catch::Contains(fmt::format("initrd crc32={:08x} len={}", crc32(initrd), initrd.size())));
}

TEST_CASE("a guest reset ends minivmm with 0", "[kvm]")
{
    if (!kvm_available()) {
        return;
    }
    const auto image = both_formats();
    INFO("image: " << image_name(image));
    const auto result = run_test_guest(image, "test=reset");
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("test=reset"));
    CHECK_THAT(result.out, !Catch::Contains("still running"));
}

TEST_CASE("a triple fault ends minivmm with 126 and the registers logged", "[kvm]")
{
    if (!kvm_available()) {
        return;
    }
    const auto image = both_formats();
    INFO("image: " << image_name(image));
    const auto result = run_test_guest(image, "test=triple-fault");
    CHECK(result.exit_code == 126);
    CHECK_THAT(result.out, Catch::Contains("test=triple-fault"));
    CHECK_THAT(result.err, Catch::Contains("triple fault") && Catch::Contains("rip="));
}
