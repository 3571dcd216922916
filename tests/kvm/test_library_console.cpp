// [kvm]: Console::send() reaches the guest through the one input path, whichever device
// carries the console: the UART (test=shell) or the virtio-console (test=vcon-echo).
#include "support/library_vm.hpp"

using namespace minivmm;
using namespace minivmm::test;
using namespace std::chrono_literals;

TEST_CASE("library: expect/send drive the test guest's shell on the UART", "[kvm]")
{
    if (!kvm_available()) {
        return;
    }
    auto vm = Vm::create(test_guest_config("test=shell"));
    auto& console = vm->console();
    // Typed before the guest runs: it waits in the input path until the guest reads.
    console.send_line("echo typed early");
    vm->start();
    console.expect("guest> echo typed early\r?\n", 60s);
    CHECK(console.expect("guest> ", 60s).before == "typed early\r\n");
    console.send_line("crc minivmm");
    const auto crc = console.expect(R"(crc32=([0-9a-f]{8})\r?\n)", 60s);
    CHECK(std::stoul(crc.groups.at(0), nullptr, 16) == crc32("minivmm"));
    // A long line arrives whole (more than the UART's FIFO at once).
    const std::string long_text(200, 'x');
    console.send_line("echo " + long_text);
    console.expect("\n" + long_text + "\r?\n", 60s);
    console.send_line("exit 5");
    const auto status = vm->wait();
    CHECK(status.reason == ExitReason::DebugExit);
    CHECK(status.code == 5);
}

TEST_CASE("library: send() reaches the guest through the virtio-console", "[kvm]")
{
    if (!kvm_available()) {
        return;
    }
    auto config = test_guest_config("test=vcon-echo");
    config.console.device = ConsoleDevice::Virtio;
    auto vm = Vm::create(config);
    auto& console = vm->console();
    vm->start();
    console.expect("vcon: sent hello, waiting for a line", 60s);
    console.send_line("typed by the harness");
    console.expect("virtio-console: got 'typed by the harness'", 60s);
    const auto status = vm->wait();
    CHECK(status.code == 0);
    // Both devices write to the one console: the UART's lines and the virtio-console's.
    CHECK_THAT(console.output(), Catch::Contains("virtio-console: hello from the guest") &&
                                     Catch::Contains("vcon: replied"));
}
