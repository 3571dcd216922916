// [kvm] virtio-console with the test guest's driver: output and input both ways.
#include "support/kvm.hpp"

using namespace minivmm::test;

TEST_CASE("virtio-console carries output to the host and input to the guest", "[kvm][virtio]")
{
    if (!kvm_available()) {
        return;
    }
    const auto image = GENERATE(GuestImage::Elf, GuestImage::BzImage);
    const auto result = run_test_guest(image, "test=vcon-echo",
                                       {.mem = "128M", .cpus = 1, .extra = {"--console", "virtio"},
                                        .input = "ping from the host\n"});
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("virtio-console: hello from the guest"));
    // The guest read the line from its receive queue and echoed it on its transmit queue.
    CHECK_THAT(result.out, Catch::Contains("virtio-console: got 'ping from the host'"));
    CHECK_THAT(result.out, Catch::Contains("vcon: got 'ping from the host'"));
}
