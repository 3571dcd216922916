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
#include "loader/kernel_loader.hpp"

#include <minivmm/error.hpp>

#include <spdlog/spdlog.h>

#include <cstring>
#include <string_view>

using namespace minivmm;

namespace {

constexpr uint64_t kRamSizes[] = {2ULL << 20, 16ULL << 20, 64ULL << 20, (3ULL << 30) + (16ULL << 20)};

template <typename T>
T take(std::span<const uint8_t>& in)
{
    T value{};
    const size_t n = std::min(sizeof(T), in.size());
    std::memcpy(&value, in.data(), n);
    in = in.subspan(n);
    return value;
}

std::span<const uint8_t> take_bytes(std::span<const uint8_t>& in, size_t n)
{
    n = std::min(n, in.size());
    const auto out = in.first(n);
    in = in.subspan(n);
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    static const bool quiet = [] {
        spdlog::set_level(spdlog::level::off);
        return true;
    }();
    (void)quiet;
    std::span<const uint8_t> in(data, size);
    const uint64_t ram = kRamSizes[take<uint8_t>(in) % 4];
    const auto cmdline = take_bytes(in, take<uint16_t>(in));
    const auto initrd = take_bytes(in, take<uint32_t>(in));
    const auto kernel = in;
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
