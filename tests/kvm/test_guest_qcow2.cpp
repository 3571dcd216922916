// [kvm] qcow2 disks under a real driver: minivmm is killed with SIGKILL while the test guest
// writes (blk-burst: rounds of writes into fresh clusters of an overlay, each round flushed),
// and afterwards `qemu-img check` finds no corruption (leaked clusters are allowed) and every
// round the guest saw flushed is in the image, byte for byte.
#include "support/kvm.hpp"
#include "support/qcow2_disk.hpp"

#include <fmt/format.h>

#include <signal.h>

#include <regex>

using namespace minivmm;
using namespace minivmm::test;

namespace {

constexpr uint64_t kSector = 512;
constexpr uint64_t kRegion = 2048; // sectors per round
constexpr uint64_t kWrites = 16;   // writes per round

// The guest's blk-burst rounds 0..last applied to `disk` (tests/guest/tests/test_blk_burst.c).
void replay_burst(std::vector<std::byte>& disk, uint32_t seed, uint64_t last)
{
    uint64_t x = seed;
    uint32_t words = seed;
    const auto lcg = [&x] {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        return x >> 33;
    };
    for (uint64_t round = 0; round <= last; ++round) {
        for (uint64_t i = 0; i < kWrites; ++i) {
            const uint64_t at = lcg() % kRegion;
            const uint64_t n = std::min<uint64_t>(1 + lcg() % 128, kRegion - at);
            std::byte* p = disk.data() + (round * kRegion + at) * kSector;
            for (uint64_t w = 0; w < n * kSector / 4; ++w) {
                words ^= words << 13;
                words ^= words >> 17;
                words ^= words << 5;
                for (int b = 0; b < 4; ++b) {
                    *p++ = static_cast<std::byte>(words >> (8 * b));
                }
            }
        }
    }
}

} // namespace

TEST_CASE("qcow2: SIGKILL during a write burst leaves a consistent image with every flushed round",
          "[kvm][virtio-blk][qcow2]")
{
    if (!kvm_available() || !have_qemu_tools()) {
        return;
    }
    const auto [aio, cluster, kill_after] = GENERATE(std::tuple{"io_uring", 65536, 3}, std::tuple{"sync", 4096, 6},
                                                     std::tuple{"io_uring", 4096, 9});
    INFO("aio=" << aio << " cluster_size=" << cluster << " SIGKILL after round " << kill_after);
    TempDir dir;
    constexpr uint64_t kSize = 32 * 1024 * 1024;
    const auto base = pattern(kSize, 131);
    write_file(dir / "base.raw", base);
    const auto image = dir / "overlay.qcow2";
    qemu_img({"create", "-f", "qcow2", "-o", "cluster_size=" + std::to_string(cluster), "-b", "base.raw", "-F", "raw",
              image.string()});
    const uint32_t seed = 0x5eed0000 + static_cast<uint32_t>(kill_after);
    const std::vector<std::string> argv{MINIVMM_BINARY, "--kernel", MINIVMM_TEST_GUEST_ELF, "--cmdline",
                                        fmt::format("test=blk-burst seed={} region={} writes={}", seed, kRegion, kWrites),
                                        "--mem", "128M", "--timeout", "150s", "--disk",
                                        fmt::format("path={},aio={}", image.string(), aio)};
    const auto result = run_process(argv, std::chrono::seconds(200), "",
                                    SignalOnOutput{fmt::format("blk: burst round={} flushed", kill_after), SIGKILL});
    INFO("minivmm stdout:\n" << result.out << "\nminivmm stderr:\n" << result.err);
    REQUIRE_FALSE(result.timed_out);
    CHECK(result.exit_code == 128 + SIGKILL);
    uint64_t last = 0;
    const std::regex flushed(R"(blk: burst round=(\d+) flushed)");
    for (auto it = std::sregex_iterator(result.out.begin(), result.out.end(), flushed); it != std::sregex_iterator();
         ++it) {
        last = std::stoull((*it)[1].str());
    }
    REQUIRE(last >= static_cast<uint64_t>(kill_after));
    check_image(image, true);
    auto expected = base;
    replay_burst(expected, seed, last);
    const auto contents = qemu_raw(image, dir / "contents.raw");
    REQUIRE(contents.size() == kSize);
    const auto flushed_bytes = static_cast<std::ptrdiff_t>((last + 1) * kRegion * kSector);
    CHECK(std::equal(contents.begin(), contents.begin() + flushed_bytes, expected.begin()));
}
