// virtio-console against a hostile driver: a chain costs the host at most queue-size
// buffers (the bound in virtio_console.hpp), so a longer one is refused, not buffered.
#include "support/captured_output.hpp"
#include "devices/virtio/mmio_registers.hpp"
#include "devices/virtio/virtio_console.hpp"
#include "support/virtio_mmio_driver.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace minivmm;
using minivmm::test::MmioDriver;

namespace {

using test::CapturedOutput;

constexpr uint16_t kNext = 1;
constexpr uint16_t kIndirect = 4;
constexpr uint64_t kData = 0x20'0000;
constexpr uint64_t kTable = 0x40'0000;
constexpr uint16_t kSize = 16;

struct Fixture {
    std::shared_ptr<CapturedOutput> output = std::make_shared<CapturedOutput>();
    MmioDriver driver{[this](memory::GuestMemory& memory) {
        return std::make_unique<virtio::VirtioConsole>(memory, output, virtio::VirtioConsole::WindowSize{});
    }};

    // Queue `queue` descriptor 0 names an indirect table of `entries` one-byte buffers.
    void offer_table(uint32_t queue, uint16_t entries, uint16_t flags)
    {
        for (uint16_t i = 0; i < entries; ++i) {
            const bool last = i + 1 == entries;
            driver.memory.write_obj(memory::GuestAddress{kData + i}, static_cast<uint8_t>('a' + i % 26));
            driver.memory.write_obj(memory::GuestAddress{kTable + i * 16ULL},
                                    MmioDriver::virtio_desc{kData + i, 1, static_cast<uint16_t>(flags | (last ? 0 : kNext)),
                                                            static_cast<uint16_t>(i + 1)});
        }
        driver.desc(queue, 0, kTable, entries * 16U, kIndirect);
        driver.offer(queue, 0);
        driver.kick(queue);
    }
};

} // namespace

TEST_CASE("virtio-console: a chain of queue-size buffers is taken, a longer one needs a reset",
          "[unit][virtio-console][bounds]")
{
    Fixture f;
    f.driver.bring_up(2, kSize, virtio::kFIndirectDesc);
    f.offer_table(1, kSize, 0);
    CHECK(f.output->text == "abcdefghijklmnop");
    CHECK(f.driver.used_idx(1) == 1);
    CHECK_FALSE(f.driver.transport.needs_reset());
    f.offer_table(1, kSize + 1, 0);
    CHECK(f.output->text == "abcdefghijklmnop"); // nothing of the overlong chain
    CHECK(f.driver.transport.needs_reset());
}
