#include "arch/x86_64/virtio_mmio_slots.hpp"
#include "vmm/virtio_cmdline.hpp"

#include <catch2/catch.hpp>

#include <vector>

using namespace minivmm;

TEST_CASE("virtio-mmio devices are appended to the command line as Linux parses them", "[unit][cmdline]")
{
    const std::vector<arch::VirtioMmioSlot> slots{{0, 0xd0000000, 0x1000, 5}, {1, 0xd0001000, 0x1000, 6}};
    CHECK(vmm::with_virtio_mmio_devices("console=ttyS0", slots) ==
          "console=ttyS0 virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6");
    CHECK(vmm::with_virtio_mmio_devices("", std::span(slots).first(1)) == "virtio_mmio.device=4K@0xd0000000:5");
    CHECK(vmm::with_virtio_mmio_devices("quiet", {}) == "quiet");
    const std::vector<arch::VirtioMmioSlot> odd{{0, 0xd0000000, 0x200, 7}};
    CHECK(vmm::with_virtio_mmio_devices("a", odd) == "a virtio_mmio.device=512@0xd0000000:7");
}
