// virtio-console (virtio 1.2 section 5.3) behind the virtio-mmio transport: output, input
// with back-pressure, emergency write, the config space.
#include "support/captured_output.hpp"
#include "devices/virtio/virtio_console.hpp"
#include "devices/virtio/mmio_registers.hpp"
#include "support/virtio_mmio_driver.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace minivmm;
using namespace minivmm::virtio::mmio;
using minivmm::test::MmioDriver;

namespace {

using test::CapturedOutput;

constexpr uint16_t kNext = 1;
constexpr uint16_t kWrite = 2;
constexpr uint64_t kData = 0x20'0000;

struct Fixture {
    std::shared_ptr<CapturedOutput> output = std::make_shared<CapturedOutput>();
    virtio::VirtioConsole* console = nullptr;
    MmioDriver driver{[this](memory::GuestMemory& memory) {
        auto device = std::make_unique<virtio::VirtioConsole>(memory, output, virtio::VirtioConsole::WindowSize{132, 43});
        console = device.get();
        return device;
    }};

    void put(uint64_t addr, std::string_view text)
    {
        driver.memory.write(memory::GuestAddress{addr}, std::as_bytes(std::span(text.data(), text.size())));
    }
    std::string get(uint64_t addr, size_t len)
    {
        std::string text(len, '\0');
        driver.memory.read(memory::GuestAddress{addr}, std::as_writable_bytes(std::span(text.data(), len)));
        return text;
    }
};

} // namespace

TEST_CASE("virtio-console: config space holds the window size and one port", "[unit][virtio-console]")
{
    Fixture f;
    CHECK(f.driver.reg(kDeviceId) == 3);
    CHECK((f.driver.device_features() & (virtio::kConsoleFSize | virtio::kConsoleFEmergWrite)) ==
          (virtio::kConsoleFSize | virtio::kConsoleFEmergWrite));
    std::array<uint8_t, 8> config{};
    f.driver.transport.read(kConfig, config);
    CHECK(config == std::array<uint8_t, 8>{132, 0, 43, 0, 1, 0, 0, 0});
}

TEST_CASE("virtio-console: emergency write prints one character before any set-up", "[unit][virtio-console]")
{
    Fixture f;
    f.driver.transport.write(kConfig + 8, std::array<uint8_t, 4>{'!', 0, 0, 0});
    CHECK(f.output->text == "!");
}

TEST_CASE("virtio-console: transmitted chains reach the output in order", "[unit][virtio-console]")
{
    Fixture f;
    f.driver.bring_up(2, 16);
    f.put(kData, "hello, ");
    f.put(kData + 0x100, "world\n");
    f.driver.desc(1, 0, kData, 7, kNext, 1);
    f.driver.desc(1, 1, kData + 0x100, 6, 0);
    f.driver.desc(1, 2, kData + 0x200, 4, kWrite); // a writable buffer in a TX chain is skipped
    f.put(kData + 0x300, "bye");
    f.driver.desc(1, 3, kData + 0x300, 3, 0);
    f.driver.offer(1, 0);
    f.driver.offer(1, 3);
    f.driver.kick(1);
    CHECK(f.output->text == "hello, world\nbye");
    CHECK(f.driver.used_idx(1) == 2);
    CHECK(f.driver.used_len(1, 0) == 0);
    CHECK(f.driver.irq->count >= 1);
}

TEST_CASE("virtio-console: input waits for receive buffers and is not lost", "[unit][virtio-console]")
{
    Fixture f;
    f.driver.bring_up(2, 16);
    const std::string typed = "ls -l\n";
    f.console->receive(std::span(reinterpret_cast<const uint8_t*>(typed.data()), typed.size()));
    f.driver.poller.run_ready(); // no receive buffers yet: nothing delivered
    CHECK(f.driver.used_idx(0) == 0);
    // A 4-byte buffer, then a 16-byte one: the input is split across them.
    f.driver.desc(0, 0, kData, 4, kWrite);
    f.driver.desc(0, 1, kData + 0x100, 16, kWrite);
    f.driver.offer(0, 0);
    f.driver.offer(0, 1);
    f.driver.kick(0);
    REQUIRE(f.driver.used_idx(0) == 2);
    CHECK(f.driver.used_len(0, 0) == 4);
    CHECK(f.driver.used_len(0, 1) == 2);
    CHECK(f.get(kData, 4) + f.get(kData + 0x100, 2) == typed);
}

TEST_CASE("virtio-console: input beyond the buffer limit is refused, not queued forever", "[unit][virtio-console]")
{
    Fixture f;
    f.driver.bring_up(2, 16);
    const std::vector<uint8_t> chunk(virtio::VirtioConsole::kInputBufferLimit, 'x');
    CHECK(f.console->can_receive());
    CHECK(f.console->receive(chunk) == chunk.size());
    CHECK_FALSE(f.console->can_receive());
    CHECK(f.console->receive(chunk) == 0); // refused: it stays with the sender
}

TEST_CASE("virtio-console: a transmit chain pointing outside RAM needs a reset", "[unit][virtio-console]")
{
    Fixture f;
    f.driver.bring_up(2, 16);
    f.driver.desc(1, 0, 0x10'0000'0000ULL, 16, 0);
    f.driver.offer(1, 0);
    f.driver.kick(1);
    CHECK(f.driver.transport.needs_reset());
    CHECK(f.output->text.empty());
}
