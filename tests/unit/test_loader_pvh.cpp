// PVH ELF loader tests on synthetic ELF images (PT_NOTE with XEN_ELFNOTE_PHYS32_ENTRY + PT_LOADs).
#include "loader/e820.hpp"
#include "arch/x86_64/guest_ram.hpp"
#include "loader/hvm_start_info.hpp"
#include "loader/kernel_loader.hpp"
#include "loader/pvh_elf.hpp"
#include "arch/x86_64/layout.hpp"

#include "support/config_error.hpp"
#include "support/packed_field.hpp"
#include "support/temp_file.hpp"

#include <catch2/catch.hpp>

#include <elf.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

using namespace minivmm;
using namespace minivmm::loader;
using minivmm::test::config_error;
using minivmm::test::field;
using Catch::Matchers::Contains;

namespace {

constexpr uint64_t kMiB = 1024 * 1024;

struct Segment {
    uint64_t paddr = 0;
    std::vector<std::byte> data;
    uint64_t memsz = 0; // 0: same as data.size()
};

std::vector<std::byte> pattern(std::size_t size, unsigned seed)
{
    std::vector<std::byte> data(size);
    for (std::size_t i = 0; i < size; ++i) {
        data[i] = static_cast<std::byte>((i * 31 + seed) & 0xff);
    }
    return data;
}

template <typename T>
void put(std::vector<std::byte>& image, std::size_t offset, const T& value)
{
    if (image.size() < offset + sizeof(T)) {
        image.resize(offset + sizeof(T));
    }
    std::memcpy(image.data() + offset, &value, sizeof(T));
}

// An ELF executable: program header 0 is the PT_NOTE (when `entry` is set), then one PT_LOAD per segment.
template <typename Ehdr, typename Phdr, typename Addr>
std::vector<std::byte> make_elf(const std::vector<Segment>& segments, std::optional<uint64_t> entry,
                                uint32_t desc_size = 4, uint16_t machine = EM_X86_64)
{
    const bool elf64 = sizeof(Ehdr) == sizeof(Elf64_Ehdr);
    const std::size_t phnum = segments.size() + (entry ? 1 : 0);
    std::vector<std::byte> image;
    Ehdr ehdr{};
    std::memcpy(ehdr.e_ident, ELFMAG, SELFMAG);
    ehdr.e_ident[EI_CLASS] = elf64 ? ELFCLASS64 : ELFCLASS32;
    ehdr.e_ident[EI_DATA] = ELFDATA2LSB;
    ehdr.e_ident[EI_VERSION] = EV_CURRENT;
    ehdr.e_type = ET_EXEC;
    ehdr.e_machine = machine;
    ehdr.e_version = EV_CURRENT;
    ehdr.e_phoff = sizeof(Ehdr);
    ehdr.e_ehsize = sizeof(Ehdr);
    ehdr.e_phentsize = sizeof(Phdr);
    ehdr.e_phnum = static_cast<uint16_t>(phnum);
    put(image, 0, ehdr);

    std::size_t cursor = sizeof(Ehdr) + phnum * sizeof(Phdr);
    std::size_t ph = 0;
    if (entry) {
        // An unrelated note first, then the PVH one: "Xen\0", desc, type 18.
        const std::size_t note_at = cursor;
        put(image, cursor, Elf64_Nhdr{4, 4, 1}); // XEN_ELFNOTE_INFO-ish filler
        put(image, cursor + 12, std::array<char, 4>{'G', 'N', 'U', '\0'});
        put(image, cursor + 16, uint32_t{0xdeadbeef});
        cursor += 20;
        put(image, cursor, Elf64_Nhdr{4, desc_size, kXenElfNotePhys32Entry});
        put(image, cursor + 12, std::array<char, 4>{'X', 'e', 'n', '\0'});
        if (desc_size == 8) {
            put(image, cursor + 16, uint64_t{*entry});
        } else {
            put(image, cursor + 16, static_cast<uint32_t>(*entry));
        }
        cursor += 16 + ((desc_size + 3) & ~3u);
        Phdr note{};
        note.p_type = PT_NOTE;
        note.p_offset = static_cast<Addr>(note_at);
        note.p_filesz = static_cast<Addr>(cursor - note_at);
        note.p_memsz = note.p_filesz;
        note.p_align = 4;
        put(image, sizeof(Ehdr) + ph++ * sizeof(Phdr), note);
    }
    for (const Segment& s : segments) {
        cursor = (cursor + 15) & ~std::size_t{15};
        Phdr load{};
        load.p_type = PT_LOAD;
        load.p_offset = static_cast<Addr>(cursor);
        load.p_vaddr = static_cast<Addr>(s.paddr + 0xffffffff80000000ull);
        load.p_paddr = static_cast<Addr>(s.paddr);
        load.p_filesz = static_cast<Addr>(s.data.size());
        load.p_memsz = static_cast<Addr>(s.memsz != 0 ? s.memsz : s.data.size());
        load.p_flags = PF_R | PF_X;
        load.p_align = 0x1000;
        put(image, sizeof(Ehdr) + ph++ * sizeof(Phdr), load);
        image.resize(std::max(image.size(), cursor + s.data.size()));
        std::copy(s.data.begin(), s.data.end(), image.begin() + static_cast<std::ptrdiff_t>(cursor));
        cursor += s.data.size();
    }
    return image;
}

std::vector<std::byte> make_elf64(const std::vector<Segment>& segments, std::optional<uint64_t> entry,
                                  uint32_t desc_size = 4)
{
    return make_elf<Elf64_Ehdr, Elf64_Phdr, uint64_t>(segments, entry, desc_size);
}

// Program header `index` of an ELF64 image, modified in place.
template <typename F>
void patch_phdr(std::vector<std::byte>& image, std::size_t index, F&& change)
{
    Elf64_Phdr ph;
    const std::size_t at = sizeof(Elf64_Ehdr) + index * sizeof(Elf64_Phdr);
    std::memcpy(&ph, image.data() + at, sizeof(ph));
    change(ph);
    std::memcpy(image.data() + at, &ph, sizeof(ph));
}

std::string guest_string(const memory::GuestMemory& memory, uint64_t addr, std::size_t len)
{
    std::string text(len, '?');
    const auto bytes = memory.slice(memory::GuestAddress(addr), len);
    std::transform(bytes.begin(), bytes.end(), text.begin(), [](std::byte b) { return static_cast<char>(b); });
    return text;
}

// A kernel-like image: text at 1 MiB with bss, data at 2 MiB; entry inside text.
std::vector<Segment> two_segments()
{
    return {{0x100000, pattern(0x1800, 1), 0x4000}, {0x200000, pattern(0x900, 2), 0}};
}

} // namespace

TEST_CASE("PVH ELF loads segments", "[unit][loader]")
{
    auto memory = arch::create_guest_ram(512 * kMiB);
    memory.fill(memory::GuestAddress(0x100000), 0x5000, std::byte{0xaa}); // the bss must be cleared
    const auto segments = two_segments();
    const auto image = make_elf64(segments, 0x100040);
    REQUIRE(detect_kernel_format(image) == KernelFormat::PvhElf);
    const LoadedKernel k = load_kernel(memory, {image, {}, "console=ttyS0", std::nullopt});

    CHECK(k.format == KernelFormat::PvhElf);
    CHECK(k.entry == memory::GuestAddress(0x100040));
    CHECK(k.boot_info == memory::GuestAddress(arch::kBootParams));
    CHECK(k.kernel_end == memory::GuestAddress(0x200900));
    CHECK_FALSE(k.initrd);
    for (const Segment& s : segments) {
        std::vector<std::byte> back(s.data.size());
        memory.read(memory::GuestAddress(s.paddr), back);
        CHECK(back == s.data);
    }
    const auto bss = memory.slice(memory::GuestAddress(0x101800), 0x4000 - 0x1800);
    CHECK(std::all_of(bss.begin(), bss.end(), [](std::byte b) { return b == std::byte{0}; }));
    CHECK(memory.read_obj<uint8_t>(memory::GuestAddress(0x104000)) == 0xaa); // nothing written past p_memsz
}

TEST_CASE("PVH start_info, memmap and modlist", "[unit][loader]")
{
    const uint64_t mem = GENERATE(512 * kMiB, 3584 * kMiB);
    auto memory = arch::create_guest_ram(mem);
    const auto image = make_elf64(two_segments(), 0x100040, 8);
    const auto initrd = pattern(2 * kMiB + 5, 9);
    const std::string cmdline = "root=/dev/vda rw";
    const LoadedKernel k = load_kernel(memory, {image, initrd, cmdline, memory::GuestAddress(0xe0000)});

    const auto info = memory.read_obj<HvmStartInfo>(k.boot_info);
    CHECK(info.magic == 0x336ec578);
    CHECK(info.version == 1);
    CHECK(info.flags == 0);
    CHECK(info.cmdline_paddr == arch::kCmdline);
    CHECK(guest_string(memory, info.cmdline_paddr, cmdline.size() + 1) == cmdline + '\0');
    CHECK(info.rsdp_paddr == 0xe0000);

    const auto e820 = build_e820_map(memory.regions());
    REQUIRE(info.memmap_entries == e820.size());
    CHECK(info.memmap_entries == (mem > 3072 * kMiB ? 4u : 3u));
    CHECK(info.memmap_paddr == arch::kBootParams + kPvhMemmapOffset);
    for (std::size_t i = 0; i < e820.size(); ++i) {
        const auto entry = memory.read_obj<HvmMemmapTableEntry>(
            memory::GuestAddress(info.memmap_paddr + i * sizeof(HvmMemmapTableEntry)));
        CHECK(entry.addr == field(e820[i].addr));
        CHECK(entry.size == field(e820[i].size));
        CHECK(entry.type == field(e820[i].type));
        CHECK(entry.reserved == 0);
    }

    REQUIRE(k.initrd);
    REQUIRE(info.nr_modules == 1);
    CHECK(info.modlist_paddr == arch::kBootParams + kPvhModlistOffset);
    const auto module = memory.read_obj<HvmModlistEntry>(memory::GuestAddress(info.modlist_paddr));
    CHECK(module.paddr == k.initrd->address.value());
    CHECK(module.size == initrd.size());
    CHECK(module.paddr % 4096 == 0);
    CHECK(module.paddr >= k.kernel_end.value());
    CHECK(module.paddr + module.size <= std::min(mem, arch::kMmioHoleStart));
    std::vector<std::byte> back(initrd.size());
    memory.read(k.initrd->address, back);
    CHECK(back == initrd);
    // Start info, modlist and memmap stay inside the boot-params page.
    CHECK(info.memmap_paddr + info.memmap_entries * sizeof(HvmMemmapTableEntry) <=
          arch::kBootParams + kPvhInfoPageSize);
}

TEST_CASE("a PVH ELF and initrd loaded from files land as from memory", "[unit][loader]")
{
    const auto image = make_elf64(two_segments(), 0x100040);
    const auto initrd = pattern(3 * kMiB + 5, 4);
    const minivmm::test::TempFile image_file(image);
    const minivmm::test::TempFile initrd_file(initrd);
    auto from_memory = arch::create_guest_ram(64 * kMiB);
    auto from_files = arch::create_guest_ram(64 * kMiB);
    const LoadedKernel a = load_kernel(from_memory, {image, initrd, "quiet", std::nullopt});
    const auto kernel_source = open_image_file(image_file.path(), "kernel");
    const auto initrd_source = open_image_file(initrd_file.path(), "initrd");
    const LoadedKernel b = load_kernel(from_files, {*kernel_source, *initrd_source, "quiet", std::nullopt});
    CHECK(a.entry == b.entry);
    CHECK(a.kernel_end == b.kernel_end);
    REQUIRE(b.initrd);
    CHECK(a.initrd->address == b.initrd->address);
    const auto whole = [](const memory::GuestMemory& m) { return m.slice(memory::GuestAddress(0), 64 * kMiB); };
    CHECK(std::equal(whole(from_memory).begin(), whole(from_memory).end(), whole(from_files).begin()));
}

TEST_CASE("PVH ELF32 image", "[unit][loader]")
{
    auto memory = arch::create_guest_ram(64 * kMiB);
    const auto image = make_elf<Elf32_Ehdr, Elf32_Phdr, uint32_t>(two_segments(), 0x100000, 4, EM_386);
    const LoadedKernel k = load_kernel(memory, {image, {}, "", std::nullopt});
    CHECK(k.entry == memory::GuestAddress(0x100000));
    CHECK(memory.read_obj<HvmStartInfo>(k.boot_info).nr_modules == 0);
}

TEST_CASE("PVH ELF rejects bad images", "[unit][loader]")
{
    auto memory = arch::create_guest_ram(512 * kMiB);
    const auto load = [&](const std::vector<std::byte>& image) {
        return config_error([&] { (void)load_kernel(memory, {image, {}, "", std::nullopt}); });
    };

    SECTION("no PVH note")
    {
        CHECK(load(make_elf64(two_segments(), std::nullopt)) ==
              "ELF kernel has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); build it with CONFIG_PVH=y");
    }
    SECTION("a note segment over 1 MiB is not read")
    {
        auto image = make_elf64(two_segments(), 0x100040);
        image.resize(image.size() + 2 * kMiB);
        patch_phdr(image, 0, [](Elf64_Phdr& ph) { ph.p_filesz = ph.p_memsz = kMiB + 1; });
        CHECK_THAT(load(image), Contains("has no PVH entry note"));
        patch_phdr(image, 0, [](Elf64_Phdr& ph) { ph.p_filesz = ph.p_memsz = kMiB; });
        CHECK_NOTHROW(load_kernel(memory, {image, {}, "", std::nullopt}));
    }
    SECTION("overlapping segments")
    {
        CHECK(load(make_elf64({{0x100000, pattern(0x100, 1), 0x2000}, {0x101000, pattern(0x100, 2), 0}}, 0x100000)) ==
              "ELF segments 1 and 2 overlap");
        // Overlap found whatever the program header order.
        CHECK(load(make_elf64({{0x300000, pattern(0x100, 1), 0}, {0x100000, pattern(0x100, 2), 0},
                               {0x2ff000, pattern(0x100, 3), 0x1001}},
                              0x100000)) == "ELF segments 1 and 3 overlap");
    }
    SECTION("segment outside RAM")
    {
        CHECK_THAT(load(make_elf64({{0x100000, pattern(0x100, 1), 0}, {600 * kMiB, pattern(0x100, 2), 0}}, 0x100000)),
                   Contains("ELF segment 2 (0x25800000-0x25800100) is outside guest RAM"));
        CHECK_THAT(load(make_elf64({{0x1ffff000, pattern(0x100, 1), 0x2000}}, 0x1ffff000)),
                   Contains("outside guest RAM"));
    }
    SECTION("segment in the MMIO hole")
    {
        auto big = arch::create_guest_ram(4096 * kMiB);
        const auto image = make_elf64({{0xc000'0000, pattern(0x100, 1), 0}}, 0xc000'0000);
        CHECK_THAT(config_error([&] { (void)load_kernel(big, {image, {}, "", std::nullopt}); }),
                   Contains("below the MMIO hole"));
    }
    SECTION("segment below 1 MiB")
    {
        CHECK_THAT(load(make_elf64({{0x7000, pattern(0x100, 1), 0}}, 0x7000)), Contains("is below 1 MiB"));
    }
    SECTION("segment offset beyond the file")
    {
        auto image = make_elf64(two_segments(), 0x100040);
        patch_phdr(image, 2, [](Elf64_Phdr& ph) { ph.p_offset = 0x100000; });
        CHECK_THAT(load(image), Contains("ELF segment 2 (file bytes 0x100000+0x900) lies beyond the end of the file"));
        patch_phdr(image, 2, [](Elf64_Phdr& ph) { ph.p_offset = ~uint64_t{0} - 4; });
        CHECK_THAT(load(image), Contains("lies beyond the end of the file"));
        patch_phdr(image, 2, [](Elf64_Phdr& ph) {
            ph.p_offset = 0;
            ph.p_filesz = ~uint64_t{0};
        });
        CHECK_THAT(load(image), Contains("lies beyond the end of the file"));
    }
    SECTION("memsz below filesz")
    {
        auto image = make_elf64(two_segments(), 0x100040);
        patch_phdr(image, 2, [](Elf64_Phdr& ph) { ph.p_memsz = 0x10; });
        CHECK(load(image) == "ELF segment 2 has p_memsz 0x10 smaller than p_filesz 0x900");
    }
    SECTION("address wraps")
    {
        auto image = make_elf64(two_segments(), 0x100040);
        patch_phdr(image, 2, [](Elf64_Phdr& ph) { ph.p_paddr = ~uint64_t{0} - 0x10; });
        CHECK_THAT(load(image), Contains("wraps around"));
    }
    SECTION("entry outside the segments")
    {
        CHECK_THAT(load(make_elf64(two_segments(), 0x150000)),
                   Contains("PVH entry point 0x150000 is not inside any loaded ELF segment"));
    }
    SECTION("bad note descriptor")
    {
        CHECK_THAT(load(make_elf64(two_segments(), 0x100040, 2)), Contains("2-byte descriptor"));
    }
    SECTION("note runs past its segment")
    {
        auto image = make_elf64(two_segments(), 0x100040);
        patch_phdr(image, 0, [](Elf64_Phdr& ph) { ph.p_filesz = 34; }); // the PVH note header fits, its name does not
        CHECK_THAT(load(image), Contains("runs past its end"));
    }
    SECTION("truncated headers")
    {
        const auto image = make_elf64(two_segments(), 0x100040);
        for (std::size_t cut : {std::size_t{4}, std::size_t{20}, std::size_t{63}, std::size_t{64}, std::size_t{100},
                                std::size_t{64 + 3 * 56 - 1}, std::size_t{64 + 3 * 56 + 10}, image.size() - 1}) {
            INFO("cut at " << cut);
            const std::vector<std::byte> part(image.begin(), image.begin() + static_cast<std::ptrdiff_t>(cut));
            CHECK_THROWS_AS(load_kernel(memory, {part, {}, "", std::nullopt}), ConfigError);
        }
    }
    SECTION("wrong machine or class")
    {
        auto image = make_elf64(two_segments(), 0x100040);
        image[EI_CLASS] = std::byte{7};
        CHECK_THAT(load(image), Contains("unknown class"));
        const auto arm = make_elf<Elf64_Ehdr, Elf64_Phdr, uint64_t>(two_segments(), 0x100040, 4, EM_AARCH64);
        CHECK_THAT(load(arm), Contains("not for x86"));
    }
}
