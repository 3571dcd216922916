// [kvm]: the ACPI platform as the test guest finds it: RSDP by Linux's scan, checksums,
// CPUs from the MADT, power-off and reset through the FADT's registers.
#include "support/kvm.hpp"

#include <fmt/format.h>

using namespace minivmm::test;

TEST_CASE("the guest finds valid ACPI tables, counts its CPUs and powers off", "[kvm][acpi]")
{
    if (!kvm_available()) {
        return;
    }
    const auto image = GENERATE(GuestImage::Elf, GuestImage::BzImage);
    const unsigned cpus = GENERATE(1U, 2U, 4U, 64U);
    INFO("image: " << image_name(image) << ", cpus " << cpus);
    const auto result =
        run_test_guest(image, fmt::format("test=acpi cpus={}", cpus), {.mem = "128M", .cpus = cpus, .extra = {}});
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("acpi: rsdp at 0xe0000 (scan)"));
    for (const char* table : {"FACP", "APIC", "DSDT"}) {
        CHECK_THAT(result.out, Catch::Contains(fmt::format("acpi: {} len=", table)));
    }
    CHECK_THAT(result.out, Catch::Contains("hw_reduced=yes"));
    CHECK_THAT(result.out, Catch::Contains(fmt::format("acpi: madt cpus={}", cpus)));
    CHECK_THAT(result.out, Catch::Contains("acpi: s5 slp_typ=5"));
    CHECK_THAT(result.out, Catch::Contains("acpi: poweroff requested"));
    CHECK_THAT(result.out, !Catch::Contains("still running"));
    CHECK_THAT(result.err, !Catch::Contains("error"));
}

TEST_CASE("the FADT reset register resets the VM", "[kvm][acpi]")
{
    if (!kvm_available()) {
        return;
    }
    const auto result = run_test_guest(GuestImage::BzImage, "test=acpi-reset");
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("acpi: reset requested"));
    CHECK_THAT(result.out, !Catch::Contains("still running"));
}

TEST_CASE("--no-acpi leaves the tables out and the MP table describes the CPUs", "[kvm][acpi]")
{
    if (!kvm_available()) {
        return;
    }
    const auto no_tables = run_test_guest(GuestImage::Elf, "test=acpi", {.mem = "128M", .cpus = 1, .extra = {"--no-acpi"}});
    CHECK(no_tables.exit_code == 6);
    const auto smp = run_test_guest(GuestImage::Elf, "test=smp", {.mem = "128M", .cpus = 2, .extra = {"--no-acpi"}});
    CHECK(smp.exit_code == 0);
    CHECK_THAT(smp.out, Catch::Contains("source=mptable cpus=2"));
    CHECK_THAT(smp.out, Catch::Contains("smp: 2 of 2 cpus reported"));
}
