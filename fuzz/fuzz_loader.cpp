// libFuzzer target: the kernel loaders (bzImage boot protocol, PVH ELF), the initrd and the
// command line, as the VM builder calls them, on hostile images. The input:
//   byte 0          guest RAM: 0 -> 2 MiB, 1 -> 16 MiB, 2 -> 64 MiB, 3 -> 3 GiB + 16 MiB (RAM on
//                   both sides of the MMIO hole: the initrd and e820 edges above 4 GiB)
//   u16 n, n bytes  the command line
//   u32 m, m bytes  the initrd (m wrapped to what the input holds)
//   the rest        the kernel image
// A hostile image must end in ConfigError (the user's file is bad) or be loaded inside RAM;
// never a crash, an out-of-bounds access (ASan) or a HostError.
#include "arch/x86_64/guest_ram.hpp"
#include "fuzz_support.hpp"
#include "loader/kernel_loader.hpp"

#include <minivmm/error.hpp>

#include <string_view>

using namespace minivmm;

namespace {

constexpr uint64_t kRamSizes[] = {2ULL << 20, 16ULL << 20, 64ULL << 20, (3ULL << 30) + (16ULL << 20)};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    fuzz::silence_logs();
    fuzz::Input in(data, size);
    const uint64_t ram = kRamSizes[in.take<uint8_t>() % 4];
    const auto cmdline = in.bytes(in.take<uint16_t>());
    const auto initrd = in.bytes(in.take<uint32_t>());
    const auto kernel = in.rest();
    memory::GuestMemory memory = arch::create_guest_ram(ram);
    const loader::BootSpec spec{std::as_bytes(kernel), std::as_bytes(initrd),
                                std::string_view(reinterpret_cast<const char*>(cmdline.data()), cmdline.size()),
                                memory::GuestAddress(0xe0000)};
    try {
        const auto loaded = loader::load_kernel(memory, spec);
        // What the loader placed is inside RAM (the entry point is the image's claim: a bad
        // one faults in the guest, which is the guest's business).
        if (!memory.contains(loaded.boot_info, 1)) {
            std::abort();
        }
        if (loaded.initrd && !memory.contains(loaded.initrd->address, loaded.initrd->size)) {
            std::abort();
        }
    } catch (const ConfigError&) {
        // A bad image, named by the loader: the expected answer to most inputs.
    }
    return 0;
}
