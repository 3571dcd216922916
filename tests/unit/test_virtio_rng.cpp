// virtio-rng (virtio 1.2 section 5.4) behind the virtio-mmio transport, driven as Linux's
// virtio-rng driver does, with a deterministic entropy source.
#include "backends/entropy/entropy_source.hpp"
#include "devices/virtio/mmio_registers.hpp"
#include "devices/virtio/virtio_rng.hpp"
#include "support/process_memory.hpp"
#include "support/virtio_mmio_driver.hpp"

#include <minivmm/error.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

using namespace minivmm;
using namespace minivmm::virtio::mmio;
using minivmm::test::MmioDriver;

namespace {

constexpr uint16_t kNext = 1;
constexpr uint16_t kWrite = 2;
constexpr uint64_t kData = 0x20'0000;

// Byte n of everything it ever hands out is n * 7 + 1 (mod 256); fails once `fail` is set.
class CountingEntropy final : public backends::EntropySource {
public:
    void fill(std::span<std::byte> out) override
    {
        if (fail) {
            throw HostError("getrandom failed: no entropy here");
        }
        for (auto& b : out) {
            b = static_cast<std::byte>(next++ * 7 + 1);
        }
    }
    uint64_t next = 0;
    bool fail = false;
};

struct Fixture {
    CountingEntropy* entropy = nullptr;
    virtio::VirtioRng* rng = nullptr;
    MmioDriver driver{[this](memory::GuestMemory& memory) {
        auto source = std::make_unique<CountingEntropy>();
        entropy = source.get();
        auto device = std::make_unique<virtio::VirtioRng>(memory, std::move(source));
        rng = device.get();
        return device;
    }};

    std::vector<uint8_t> get(uint64_t addr, size_t len)
    {
        std::vector<uint8_t> bytes(len);
        driver.memory.read(memory::GuestAddress{addr}, std::as_writable_bytes(std::span(bytes)));
        return bytes;
    }
    static std::vector<uint8_t> expected(uint64_t from, size_t len)
    {
        std::vector<uint8_t> bytes(len);
        for (size_t i = 0; i < len; ++i) {
            bytes[i] = static_cast<uint8_t>((from + i) * 7 + 1);
        }
        return bytes;
    }
};

} // namespace

TEST_CASE("virtio-rng: device 4, one queue, no features and no config space", "[unit][virtio-rng]")
{
    Fixture f;
    CHECK(f.driver.reg(kDeviceId) == 4);
    CHECK(f.driver.device_features() == virtio::kTransportFeatures);
    // Nothing to read: the device writes none of the bytes (the bus zero-fills what a guest reads).
    std::array<uint8_t, 8> config{0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa};
    f.driver.transport.read(kConfig, config);
    CHECK(config == std::array<uint8_t, 8>{0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa});
    f.driver.transport.write(kConfig, std::array<uint8_t, 4>{1, 2, 3, 4}); // ignored
    f.driver.bring_up(1, 16);
    CHECK_FALSE(f.driver.transport.needs_reset());
}

TEST_CASE("virtio-rng: requests are filled from the host's entropy, in order", "[unit][virtio-rng]")
{
    Fixture f;
    f.driver.bring_up(1, 16);
    f.driver.desc(0, 0, kData, 64, kWrite); // what Linux posts
    f.driver.desc(0, 1, kData + 0x1000, 10, kWrite | kNext, 2);
    f.driver.desc(0, 2, kData + 0x2000, 30, kWrite);
    f.driver.offer(0, 0);
    f.driver.offer(0, 1);
    f.driver.kick(0);
    REQUIRE(f.driver.used_idx(0) == 2);
    CHECK(f.driver.used_len(0, 0) == 64);
    CHECK(f.driver.used_len(0, 1) == 40);
    CHECK(f.get(kData, 64) == Fixture::expected(0, 64));
    CHECK(f.get(kData + 0x1000, 10) == Fixture::expected(64, 10));
    CHECK(f.get(kData + 0x2000, 30) == Fixture::expected(74, 30));
    CHECK(f.rng->bytes_served() == 104);
    CHECK(f.driver.irq->count >= 1);
}

TEST_CASE("virtio-rng: a request is answered with at most 64 KiB", "[unit][virtio-rng]")
{
    Fixture f;
    f.driver.bring_up(1, 16);
    f.driver.desc(0, 0, kData, 48 * 1024, kWrite | kNext, 1);
    f.driver.desc(0, 1, kData + 48 * 1024, 1024 * 1024, kWrite);
    f.driver.offer(0, 0);
    f.driver.kick(0);
    REQUIRE(f.driver.used_idx(0) == 1);
    CHECK(f.driver.used_len(0, 0) == virtio::VirtioRng::kMaxBytesPerRequest);
    CHECK(f.entropy->next == virtio::VirtioRng::kMaxBytesPerRequest);
    // Nothing written past the first 64 KiB.
    const auto after = f.get(kData + virtio::VirtioRng::kMaxBytesPerRequest, 4096);
    CHECK(std::all_of(after.begin(), after.end(), [](uint8_t b) { return b == 0; }));
}

TEST_CASE("virtio-rng: device-readable buffers are skipped", "[unit][virtio-rng]")
{
    Fixture f;
    f.driver.bring_up(1, 16);
    f.driver.desc(0, 0, kData, 16, kNext, 1); // readable: a driver must not post it
    f.driver.desc(0, 1, kData + 0x1000, 16, kWrite);
    f.driver.desc(0, 2, kData + 0x2000, 16, 0); // only readable
    f.driver.offer(0, 0);
    f.driver.offer(0, 2);
    f.driver.kick(0);
    REQUIRE(f.driver.used_idx(0) == 2);
    CHECK(f.driver.used_len(0, 0) == 16);
    CHECK(f.driver.used_len(0, 1) == 0);
    CHECK(f.get(kData, 16) == std::vector<uint8_t>(16, 0));
    CHECK(f.get(kData + 0x1000, 16) == Fixture::expected(0, 16));
    CHECK_FALSE(f.driver.transport.needs_reset());
}

TEST_CASE("virtio-rng: requests posted before DRIVER_OK are answered when it is set", "[unit][virtio-rng]")
{
    Fixture f;
    REQUIRE(f.driver.negotiate(virtio::kFVersion1));
    f.driver.setup_queue(0, 16);
    f.driver.desc(0, 0, kData, 32, kWrite);
    f.driver.offer(0, 0);
    CHECK(f.driver.used_idx(0) == 0);
    f.driver.driver_ok();
    f.driver.run_io();
    CHECK(f.driver.used_idx(0) == 1);
    CHECK(f.get(kData, 32) == Fixture::expected(0, 32));
}

TEST_CASE("virtio-rng: a failing host entropy source needs a reset, and a reset recovers", "[unit][virtio-rng]")
{
    Fixture f;
    f.driver.bring_up(1, 16);
    f.entropy->fail = true;
    f.driver.desc(0, 0, kData, 64, kWrite);
    f.driver.offer(0, 0);
    f.driver.kick(0);
    CHECK(f.driver.transport.needs_reset());
    CHECK(f.driver.used_idx(0) == 0);
    CHECK(f.get(kData, 64) == std::vector<uint8_t>(64, 0));

    f.entropy->fail = false;
    // A driver starts over after a reset with fresh rings.
    f.driver.memory.write_obj(memory::GuestAddress{MmioDriver::ring_addr(0) + 0x1000 + 2}, uint16_t{0});
    f.driver.avail_idx[0] = 0;
    f.driver.bring_up(1, 16); // starts with a reset
    CHECK_FALSE(f.driver.transport.needs_reset());
    f.driver.desc(0, 0, kData, 8, kWrite);
    f.driver.offer(0, 0);
    f.driver.kick(0);
    REQUIRE(f.driver.used_idx(0) == 1);
    CHECK(f.driver.used_len(0, 0) == 8);
}

TEST_CASE("virtio-rng: a chain pointing outside RAM needs a reset", "[unit][virtio-rng]")
{
    Fixture f;
    f.driver.bring_up(1, 16);
    f.driver.desc(0, 0, 0x10'0000'0000ULL, 64, kWrite);
    f.driver.offer(0, 0);
    f.driver.kick(0);
    CHECK(f.driver.transport.needs_reset());
    CHECK(f.rng->bytes_served() == 0);
}

TEST_CASE("virtio-rng: a flood of the longest requests leaves the heap where it was", "[unit][virtio-rng][bounds]")
{
    Fixture f;
    f.driver.bring_up(1, 256);
    // Each request: a device-readable descriptor and 255 device-writable ones of 4 KiB (the
    // longest chain a 256-entry queue allows), posted again and again.
    const auto post_and_answer = [&](int rounds) {
        for (int round = 0; round < rounds; ++round) {
            f.driver.desc(0, 0, kData, 64, kNext, 1);
            for (uint16_t i = 1; i < 256; ++i) {
                const uint16_t flags = i < 255 ? kWrite | kNext : kWrite;
                f.driver.desc(0, i, kData + uint64_t{i} * 4096, 4096, flags, static_cast<uint16_t>((i + 1) % 256));
            }
            f.driver.offer(0, 0);
            f.driver.kick(0);
        }
    };
    post_and_answer(10); // warm-up: what allocates once has done so
    const std::size_t before = test::heap_bytes_in_use();
    post_and_answer(2000);
    const std::size_t after = test::heap_bytes_in_use();
    INFO("heap in use before " << before << ", after " << after);
    CHECK(after <= before);
    CHECK(f.driver.used_idx(0) == 2010);
    CHECK(f.driver.used_len(0, 2009) == virtio::VirtioRng::kMaxBytesPerRequest); // 16 of the 255 filled
    CHECK(f.rng->bytes_served() == 2010ULL * virtio::VirtioRng::kMaxBytesPerRequest);
    CHECK_FALSE(f.driver.transport.needs_reset());
    CHECK(virtio::VirtioRng::kMaxBytesHeld <= 4096 + 64);
}

TEST_CASE("host entropy: getrandom fills the buffer with bytes that differ", "[unit][virtio-rng]")
{
    backends::HostEntropy host;
    std::vector<std::byte> a(4096), b(4096);
    host.fill(a);
    host.fill(b);
    CHECK(a != b);
    CHECK(std::count(a.begin(), a.end(), std::byte{0}) < 100); // ~16 expected
    host.fill(std::span<std::byte>()); // nothing asked, nothing done
}
