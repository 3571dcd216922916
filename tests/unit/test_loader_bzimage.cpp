// bzImage loader tests on synthetic images (boot.rst "The Real-Mode Kernel Header").
#include "loader/boot_params.hpp"
#include "arch/x86_64/guest_ram.hpp"
#include "loader/bzimage.hpp"
#include "loader/e820.hpp"
#include "loader/kernel_loader.hpp"
#include "arch/x86_64/layout.hpp"

#include "support/config_error.hpp"
#include "support/packed_field.hpp"
#include "support/temp_file.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <cstring>
#include <string>
#include <vector>

using namespace minivmm;
using namespace minivmm::loader;
using minivmm::test::config_error;
using minivmm::test::field;
using Catch::Matchers::Contains;

namespace {

constexpr uint64_t kMiB = 1024 * 1024;

struct BzOptions {
    uint16_t version = 0x020f;
    uint8_t setup_sects = 4;
    std::size_t payload_size = 64 * 1024;
    uint8_t loadflags = kLoadedHigh;
    uint16_t xloadflags = kXlfKernel64;
    uint32_t cmdline_size = 2047;
    uint32_t initrd_addr_max = 0x7fff'ffff;
    uint8_t relocatable = 1;
    uint32_t kernel_alignment = 0x20'0000;
    uint64_t pref_address = 0x100'0000;
    uint32_t init_size = 0x40'0000;
    uint8_t header_jump = 0x6a; // header ends at 0x202 + 0x6a = 0x26c
};

std::byte payload_byte(std::size_t i) { return static_cast<std::byte>((i * 7 + 3) & 0xff); }

std::vector<std::byte> make_bzimage(const BzOptions& o = {})
{
    const std::size_t sects = o.setup_sects == 0 ? 4 : o.setup_sects;
    const std::size_t setup_size = (sects + 1) * 512;
    std::vector<std::byte> image(setup_size + o.payload_size, std::byte{0});
    SetupHeader hdr{};
    hdr.setup_sects = o.setup_sects;
    hdr.syssize = static_cast<uint32_t>((o.payload_size + 15) / 16);
    hdr.boot_flag = kBootFlag;
    hdr.jump = static_cast<uint16_t>(0xeb | (o.header_jump << 8));
    hdr.header = kHdrSMagic;
    hdr.version = o.version;
    hdr.loadflags = o.loadflags;
    hdr.code32_start = 0x100000;
    hdr.initrd_addr_max = o.initrd_addr_max;
    hdr.kernel_alignment = o.kernel_alignment;
    hdr.relocatable_kernel = o.relocatable;
    hdr.xloadflags = o.xloadflags;
    hdr.cmdline_size = o.cmdline_size;
    hdr.pref_address = o.pref_address;
    hdr.init_size = o.init_size;
    const auto hdr_bytes = std::as_bytes(std::span(&hdr, 1));
    std::copy(hdr_bytes.begin(), hdr_bytes.end(), image.begin() + kSetupHeaderOffset);
    for (std::size_t i = 0; i < o.payload_size; ++i) {
        image[setup_size + i] = payload_byte(i);
    }
    return image;
}

std::vector<std::byte> initrd_bytes(std::size_t size)
{
    std::vector<std::byte> data(size);
    for (std::size_t i = 0; i < size; ++i) {
        data[i] = static_cast<std::byte>((i * 13 + 5) & 0xff);
    }
    return data;
}

std::string guest_string(const memory::GuestMemory& memory, uint64_t addr, std::size_t len)
{
    std::string text(len, '?');
    const auto bytes = memory.slice(memory::GuestAddress(addr), len);
    std::transform(bytes.begin(), bytes.end(), text.begin(), [](std::byte b) { return static_cast<char>(b); });
    return text;
}

void check_e820(const BootParams& bp, const std::vector<E820Entry>& expected)
{
    REQUIRE(field(bp.e820_entries) == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        CHECK(field(bp.e820_table[i].addr) == field(expected[i].addr));
        CHECK(field(bp.e820_table[i].size) == field(expected[i].size));
        CHECK(field(bp.e820_table[i].type) == field(expected[i].type));
    }
}

} // namespace

TEST_CASE("bzImage loads payload, boot_params and cmdline", "[unit][loader]")
{
    auto memory = arch::create_guest_ram(512 * kMiB);
    const auto image = make_bzimage();
    const std::string cmdline = "console=ttyS0 reboot=k panic=-1";
    const LoadedKernel k = load_kernel(memory, {image, {}, cmdline, memory::GuestAddress(0xe0000)});

    CHECK(k.format == KernelFormat::BzImage);
    CHECK(k.entry == memory::GuestAddress(arch::kKernelStart + 0x200));
    CHECK(k.boot_info == memory::GuestAddress(arch::kBootParams));
    CHECK(k.kernel_end == memory::GuestAddress(0x100'0000 + 0x40'0000)); // pref_address + init_size
    CHECK_FALSE(k.initrd);

    std::vector<std::byte> payload(64 * 1024);
    memory.read(memory::GuestAddress(arch::kKernelStart), payload);
    CHECK(std::equal(payload.begin(), payload.end(), image.begin() + 5 * 512));

    const auto bp = memory.read_obj<BootParams>(memory::GuestAddress(arch::kBootParams));
    CHECK(field(bp.hdr.header) == kHdrSMagic);
    CHECK(field(bp.hdr.version) == 0x020f);
    CHECK(field(bp.hdr.boot_flag) == kBootFlag);
    CHECK(field(bp.hdr.setup_sects) == 4);
    CHECK(field(bp.hdr.type_of_loader) == 0xff);
    CHECK(field(bp.hdr.loadflags) == (kLoadedHigh | kCanUseHeap));
    CHECK(field(bp.hdr.heap_end_ptr) == 0xfe00);
    CHECK(field(bp.hdr.vid_mode) == 0xffff);
    CHECK(field(bp.hdr.cmd_line_ptr) == arch::kCmdline);
    CHECK(field(bp.ext_cmd_line_ptr) == 0);
    CHECK(field(bp.hdr.ramdisk_image) == 0);
    CHECK(field(bp.hdr.ramdisk_size) == 0);
    CHECK(field(bp.acpi_rsdp_addr) == 0xe0000);
    CHECK(field(bp.sentinel) == 0);

    CHECK(guest_string(memory, arch::kCmdline, cmdline.size() + 1) == cmdline + '\0');

    check_e820(bp, {{0, 0x9fc00, 1}, {0x9fc00, 0x100000 - 0x9fc00, 2}, {0x100000, 512 * kMiB - 0x100000, 1}});
}

TEST_CASE("a bzImage and initrd loaded from files land as from memory", "[unit][loader]")
{
    BzOptions o;
    o.setup_sects = 30;
    o.payload_size = 3 * kMiB + 16;
    const auto image = make_bzimage(o);
    const auto initrd = initrd_bytes(2 * kMiB + 3);
    const minivmm::test::TempFile image_file(image);
    const minivmm::test::TempFile initrd_file(initrd);
    auto from_memory = arch::create_guest_ram(64 * kMiB);
    auto from_files = arch::create_guest_ram(64 * kMiB);
    const LoadedKernel a = load_kernel(from_memory, {image, initrd, "console=ttyS0", std::nullopt});
    const auto kernel_source = open_image_file(image_file.path(), "kernel");
    const auto initrd_source = open_image_file(initrd_file.path(), "initrd");
    const LoadedKernel b = load_kernel(from_files, {*kernel_source, *initrd_source, "console=ttyS0", std::nullopt});
    CHECK(a.kernel_end == b.kernel_end);
    REQUIRE(b.initrd);
    CHECK(a.initrd->address == b.initrd->address);
    const auto whole = [](const memory::GuestMemory& m) { return m.slice(memory::GuestAddress(0), 64 * kMiB); };
    CHECK(std::equal(whole(from_memory).begin(), whole(from_memory).end(), whole(from_files).begin()));

    SECTION("a file cut short after it was opened")
    {
        const auto source = open_image_file(image_file.path(), "kernel");
        std::filesystem::resize_file(image_file.path(), image.size() - 100);
        CHECK_THAT(config_error([&] { (void)load_kernel(from_files, {*source, {}, "", std::nullopt}); }),
                   Contains("kernel '" + image_file.path().string() + "' is shorter than when it was opened"));
    }
}

TEST_CASE("bzImage e820 map above the MMIO hole", "[unit][loader]")
{
    auto memory = arch::create_guest_ram(3584 * kMiB);
    const auto image = make_bzimage();
    const auto initrd = initrd_bytes(3 * kMiB + 123);
    const LoadedKernel k = load_kernel(memory, {image, initrd, "", std::nullopt});
    const auto bp = memory.read_obj<BootParams>(memory::GuestAddress(arch::kBootParams));
    check_e820(bp, {{0, 0x9fc00, 1},
                    {0x9fc00, 0x60400, 2},
                    {0x100000, 0xc000'0000 - 0x100000, 1},
                    {0x1'0000'0000, 512 * kMiB, 1}});
    CHECK(field(bp.acpi_rsdp_addr) == 0);
    // Low RAM reaches 3 GiB, but this kernel takes initrds only below 2 GiB.
    REQUIRE(k.initrd);
    CHECK(k.initrd->address.value() % 4096 == 0);
    CHECK(k.initrd->address.value() + k.initrd->size - 1 <= 0x7fff'ffff);
    CHECK(k.initrd->address.value() + k.initrd->size > 0x7fff'ffff - 4096);
    CHECK(field(bp.hdr.ramdisk_image) == k.initrd->address.value());
    CHECK(field(bp.hdr.ramdisk_size) == initrd.size());
    CHECK(field(bp.ext_ramdisk_image) == 0);
    // An empty command line is still a valid pointer to a NUL.
    CHECK(field(bp.hdr.cmd_line_ptr) == arch::kCmdline);
    CHECK(memory.read_obj<uint8_t>(memory::GuestAddress(arch::kCmdline)) == 0);
}

TEST_CASE("bzImage initrd placement", "[unit][loader]")
{
    auto memory = arch::create_guest_ram(512 * kMiB);
    const auto initrd = initrd_bytes(5 * kMiB + 17);

    SECTION("top of low RAM")
    {
        const auto image = make_bzimage();
        const LoadedKernel k = load_kernel(memory, {image, initrd, "quiet", std::nullopt});
        REQUIRE(k.initrd);
        const uint64_t addr = k.initrd->address.value();
        CHECK(addr % 4096 == 0);
        CHECK(addr >= k.kernel_end.value());
        CHECK(addr + initrd.size() <= 512 * kMiB);
        CHECK(addr + initrd.size() > 512 * kMiB - 4096);
        std::vector<std::byte> back(initrd.size());
        memory.read(k.initrd->address, back);
        CHECK(back == initrd);
        const auto bp = memory.read_obj<BootParams>(memory::GuestAddress(arch::kBootParams));
        CHECK(field(bp.hdr.ramdisk_image) == addr);
        CHECK(field(bp.hdr.ramdisk_size) == initrd.size());
    }
    SECTION("below initrd_addr_max")
    {
        BzOptions o;
        o.initrd_addr_max = 0x0fff'ffff;
        const auto image = make_bzimage(o);
        const LoadedKernel k = load_kernel(memory, {image, initrd, "", std::nullopt});
        REQUIRE(k.initrd);
        CHECK(k.initrd->address.value() % 4096 == 0);
        CHECK(k.initrd->address.value() + initrd.size() - 1 <= 0x0fff'ffff);
        std::vector<std::byte> back(initrd.size());
        memory.read(k.initrd->address, back);
        CHECK(back == initrd);
    }
}

TEST_CASE("bzImage setup_sects 0 means 4", "[unit][loader]")
{
    BzOptions o;
    o.setup_sects = 0;
    const auto image = make_bzimage(o);
    const BzImage parsed = parse_bzimage(image);
    CHECK(parsed.setup_size == 5 * 512);
    CHECK(parsed.payload_size == o.payload_size);
    CHECK(parsed.header_bytes.size() == 0x26c - 0x1f1);
}

TEST_CASE("bzImage rejects old boot protocols", "[unit][loader]")
{
    BzOptions o;
    o.version = 0x0205;
    const auto image = make_bzimage(o);
    auto memory = arch::create_guest_ram(64 * kMiB);
    CHECK_THAT(config_error([&] { (void)load_kernel(memory, {image, {}, "", std::nullopt}); }),
               Contains("boot protocol 2.05 is too old") && Contains("2.06"));
    o.version = 0x0206; // the oldest accepted; no pref_address/init_size yet
    const auto ok = make_bzimage(o);
    CHECK(load_kernel(memory, {ok, {}, "", std::nullopt}).kernel_end ==
          memory::GuestAddress(arch::kKernelStart + o.payload_size));
}

TEST_CASE("bzImage truncated anywhere is a ConfigError", "[unit][loader]")
{
    const auto image = make_bzimage();
    auto memory = arch::create_guest_ram(64 * kMiB);
    for (std::size_t cut : {std::size_t{0}, std::size_t{1}, std::size_t{0x1f0}, std::size_t{0x1ff}, std::size_t{0x205},
                            std::size_t{0x26b}, std::size_t{0x26c}, std::size_t{0x400}, std::size_t{5 * 512},
                            std::size_t{5 * 512 + 1}, image.size() - 16, image.size() - 1}) {
        INFO("cut at " << cut);
        const std::span<const std::byte> part(image.data(), cut);
        CHECK_THROWS_AS(load_kernel(memory, {part, {}, "", std::nullopt}), ConfigError);
    }
    CHECK(config_error([&] { (void)parse_bzimage(std::span(image.data(), 0x100)); }) ==
          "kernel image truncated: setup header needs 620 bytes, file has 256");
    CHECK_THAT(config_error([&] { (void)parse_bzimage(std::span(image.data(), 0x400)); }),
               Contains("kernel image truncated: setup code needs 2560 bytes (setup_sects 4), file has 1024"));
    CHECK_THAT(config_error([&] { (void)parse_bzimage(std::span(image.data(), image.size() - 1)); }),
               Contains("protected-mode kernel needs 65536 bytes"));
}

TEST_CASE("bzImage bad magic", "[unit][loader]")
{
    auto image = make_bzimage();
    SECTION("no HdrS")
    {
        image[0x202] = std::byte{'X'};
        CHECK(config_error([&] { (void)parse_bzimage(image); }) ==
              "not a Linux kernel: no HdrS signature at offset 0x202");
        auto memory = arch::create_guest_ram(64 * kMiB);
        CHECK_THAT(config_error([&] { (void)load_kernel(memory, {image, {}, "", std::nullopt}); }),
                   Contains("no HdrS signature"));
    }
    SECTION("no boot flag")
    {
        image[0x1fe] = std::byte{0};
        CHECK_THAT(config_error([&] { (void)parse_bzimage(image); }), Contains("no boot flag 0xaa55"));
    }
}

TEST_CASE("bzImage hostile header fields", "[unit][loader]")
{
    SECTION("oversized setup_sects")
    {
        BzOptions o;
        const auto good = make_bzimage(o);
        auto image = good;
        image[0x1f1] = std::byte{0xff};
        CHECK_THAT(config_error([&] { (void)parse_bzimage(image); }), Contains("setup_sects 255"));
    }
    SECTION("header shorter than its protocol")
    {
        BzOptions o;
        o.header_jump = 0x20;
        const auto image = make_bzimage(o);
        CHECK_THAT(config_error([&] { (void)parse_bzimage(image); }), Contains("setup header ends at 0x222"));
    }
    SECTION("header longer than the zero page has room for is capped")
    {
        BzOptions o;
        o.header_jump = 0xff;
        const auto image = make_bzimage(o);
        CHECK(parse_bzimage(image).header_bytes.size() == kSetupHeaderLimit - kSetupHeaderOffset);
    }
    SECTION("no LOADED_HIGH")
    {
        BzOptions o;
        o.loadflags = 0;
        CHECK_THAT(config_error([&] { (void)parse_bzimage(make_bzimage(o)); }), Contains("LOADED_HIGH"));
    }
    SECTION("no 64-bit entry")
    {
        BzOptions o;
        o.xloadflags = 0;
        CHECK_THAT(config_error([&] { (void)parse_bzimage(make_bzimage(o)); }), Contains("XLF_KERNEL_64"));
    }
    SECTION("bad kernel_alignment")
    {
        BzOptions o;
        o.kernel_alignment = 0x30'0000;
        CHECK_THAT(config_error([&] { (void)parse_bzimage(make_bzimage(o)); }), Contains("not a power of two"));
    }
    SECTION("pref_address + init_size overflows")
    {
        BzOptions o;
        o.pref_address = ~uint64_t{0} - 10;
        auto memory = arch::create_guest_ram(64 * kMiB);
        const auto image = make_bzimage(o);
        CHECK_THAT(config_error([&] { (void)load_kernel(memory, {image, {}, "", std::nullopt}); }),
                   Contains("overflows"));
    }
    SECTION("init_size beyond RAM")
    {
        BzOptions o;
        o.init_size = 0x1000'0000;
        auto memory = arch::create_guest_ram(64 * kMiB);
        const auto image = make_bzimage(o);
        CHECK_THAT(config_error([&] { (void)load_kernel(memory, {image, {}, "", std::nullopt}); }),
                   Contains("kernel needs guest RAM up to 0x11000000") && Contains("give the guest more memory"));
    }
    SECTION("pref_address in the MMIO hole")
    {
        BzOptions o;
        o.relocatable = 0;
        o.pref_address = 0xc000'0000;
        auto memory = arch::create_guest_ram(4096 * kMiB);
        const auto image = make_bzimage(o);
        CHECK_THAT(config_error([&] { (void)load_kernel(memory, {image, {}, "", std::nullopt}); }),
                   Contains("below the MMIO hole"));
    }
}

TEST_CASE("bzImage command line limits", "[unit][loader]")
{
    BzOptions o;
    o.cmdline_size = 16;
    const auto image = make_bzimage(o);
    auto memory = arch::create_guest_ram(64 * kMiB);
    CHECK_NOTHROW(load_kernel(memory, {image, {}, std::string(16, 'a'), std::nullopt}));
    CHECK(config_error([&] { (void)load_kernel(memory, {image, {}, std::string(17, 'a'), std::nullopt}); }) ==
          "kernel command line is 17 bytes long; the kernel accepts at most 16");
    const std::string with_nul("a\0b", 3);
    CHECK_THAT(config_error([&] { (void)load_kernel(memory, {image, {}, with_nul, std::nullopt}); }),
               Contains("NUL"));
    BzOptions huge;
    huge.cmdline_size = 0xffff'ffff; // the platform's area still limits it
    const auto image2 = make_bzimage(huge);
    CHECK_THROWS_AS(load_kernel(memory, {image2, {}, std::string(arch::kCmdlineMax, 'a'), std::nullopt}),
                    ConfigError);
}

TEST_CASE("bzImage initrd too big", "[unit][loader]")
{
    auto memory = arch::create_guest_ram(64 * kMiB);
    const auto image = make_bzimage(); // needs RAM up to 20 MiB
    const std::vector<std::byte> initrd(60 * kMiB);
    const std::string message =
        config_error([&] { (void)load_kernel(memory, {image, initrd, "", std::nullopt}); });
    CHECK(message == "initrd (60.0 MiB) does not fit in guest RAM below 0x4000000 (44.0 MiB free): "
                     "give the guest more memory");
}
