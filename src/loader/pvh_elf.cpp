#include "loader/pvh_elf.hpp"

#include "loader/cmdline.hpp"
#include "loader/e820.hpp"
#include "loader/hvm_start_info.hpp"
#include "loader/image_bytes.hpp"
#include "loader/initrd.hpp"
#include "arch/x86_64/layout.hpp"

#include <elf.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>

namespace minivmm::loader {

namespace {

// Program header fields of either ELF class (System V gABI, "Program Header").
struct ProgramHeader {
    uint32_t type = 0;
    uint64_t offset = 0;
    uint64_t paddr = 0;
    uint64_t filesz = 0;
    uint64_t memsz = 0;
    uint64_t align = 0;
};

constexpr std::array<char, 4> kXenNoteName = {'X', 'e', 'n', '\0'};

// A PT_NOTE segment larger than this is not searched for the PVH note: Linux's .notes
// holds a few hundred bytes, and a hostile image must not make minivmm read gigabytes.
constexpr uint64_t kMaxNoteSegment = uint64_t{1} << 20;

// The bytes [offset, offset + len) of the image, or nullopt when they are not all inside it.
std::optional<std::vector<std::byte>> read_range(const ImageRef& image, uint64_t offset, uint64_t len)
{
    if (offset > image.size() || len > image.size() - offset) {
        return std::nullopt;
    }
    std::vector<std::byte> bytes(len);
    image.read_at(offset, bytes);
    return bytes;
}

template <typename Ehdr, typename Phdr>
std::vector<ProgramHeader> read_program_headers(const ImageRef& image)
{
    const std::vector<std::byte> head = image.read_prefix(sizeof(Ehdr));
    const auto ehdr = read_struct<Ehdr>(head, 0);
    if (!ehdr) {
        throw ConfigError(fmt::format("ELF kernel truncated: ELF header needs {} bytes, file has {}", sizeof(Ehdr),
                                      image.size()));
    }
    if (ehdr->e_type != ET_EXEC && ehdr->e_type != ET_DYN) {
        throw ConfigError(fmt::format("ELF kernel is not an executable (e_type {})", ehdr->e_type));
    }
    const bool elf64 = sizeof(Ehdr) == sizeof(Elf64_Ehdr);
    if (ehdr->e_machine != EM_X86_64 && (elf64 || ehdr->e_machine != EM_386)) {
        throw ConfigError(fmt::format("ELF kernel is not for x86 (e_machine {})", ehdr->e_machine));
    }
    if (ehdr->e_phnum == 0 || ehdr->e_phnum == PN_XNUM) {
        throw ConfigError("ELF kernel has no program headers");
    }
    if (ehdr->e_phentsize < sizeof(Phdr)) {
        throw ConfigError(fmt::format("ELF program header size {} is smaller than {}", ehdr->e_phentsize, sizeof(Phdr)));
    }
    const uint64_t table_size = uint64_t{ehdr->e_phnum} * ehdr->e_phentsize;
    const uint64_t phoff = ehdr->e_phoff;
    if (phoff > image.size() || table_size > image.size() - phoff) {
        throw ConfigError(fmt::format("ELF kernel truncated: {} program headers at {:#x} need {} bytes, file has {}",
                                      ehdr->e_phnum, phoff, table_size, image.size()));
    }
    std::vector<ProgramHeader> headers;
    headers.reserve(ehdr->e_phnum);
    for (uint64_t i = 0; i < ehdr->e_phnum; ++i) {
        Phdr phdr{};
        image.read_at(phoff + i * ehdr->e_phentsize, std::as_writable_bytes(std::span(&phdr, 1)));
        headers.push_back({phdr.p_type, phdr.p_offset, phdr.p_paddr, phdr.p_filesz, phdr.p_memsz, phdr.p_align});
    }
    return headers;
}

uint64_t align_up(uint64_t value, uint64_t align) { return (value + align - 1) & ~(align - 1); }

// The XEN_ELFNOTE_PHYS32_ENTRY in one PT_NOTE segment (gABI "Note Section"), if present.
std::optional<uint32_t> find_pvh_entry(std::span<const std::byte> notes, uint64_t segment_align)
{
    const uint64_t align = segment_align == 8 ? 8 : 4;
    uint64_t pos = 0;
    while (notes.size() - pos >= sizeof(Elf64_Nhdr)) { // Elf32_Nhdr is the same 12 bytes
        const Elf64_Nhdr nhdr = *read_struct<Elf64_Nhdr>(notes, pos);
        // All terms are below 2^34, so these sums cannot overflow.
        const uint64_t name_at = pos + sizeof(Elf64_Nhdr);
        const uint64_t desc_at = align_up(name_at + nhdr.n_namesz, align);
        const uint64_t next = align_up(desc_at + nhdr.n_descsz, align);
        const auto name = checked_subspan(notes, name_at, nhdr.n_namesz);
        const auto desc = checked_subspan(notes, desc_at, nhdr.n_descsz);
        if (!name || !desc) {
            throw ConfigError(fmt::format("ELF note at offset {:#x} of a PT_NOTE segment runs past its end", pos));
        }
        const bool xen = (nhdr.n_namesz == 3 || nhdr.n_namesz == 4) &&
                         std::memcmp(name->data(), kXenNoteName.data(), nhdr.n_namesz) == 0;
        if (xen && nhdr.n_type == kXenElfNotePhys32Entry) {
            if (nhdr.n_descsz == 4) {
                return *read_struct<uint32_t>(*desc, 0);
            }
            if (nhdr.n_descsz == 8) {
                const uint64_t entry = *read_struct<uint64_t>(*desc, 0);
                if (entry > UINT32_MAX) {
                    throw ConfigError(fmt::format("PVH entry point {:#x} is above 4 GiB", entry));
                }
                return static_cast<uint32_t>(entry);
            }
            throw ConfigError(fmt::format("PVH entry note has a {}-byte descriptor; expected 4 or 8", nhdr.n_descsz));
        }
        if (next >= notes.size()) {
            break;
        }
        pos = next;
    }
    return std::nullopt;
}

} // namespace

bool is_elf(std::span<const std::byte> image)
{
    return image.size() >= SELFMAG && std::memcmp(image.data(), ELFMAG, SELFMAG) == 0;
}

PvhElf parse_pvh_elf(const ImageRef& image)
{
    const std::vector<std::byte> head = image.read_prefix(EI_NIDENT);
    if (!is_elf(head) || head.size() < EI_NIDENT) {
        throw ConfigError("not an ELF kernel: no ELF header");
    }
    const auto ident = [&](std::size_t i) { return std::to_integer<uint8_t>(head[i]); };
    if (ident(EI_DATA) != ELFDATA2LSB) {
        throw ConfigError("ELF kernel is not little-endian");
    }
    std::vector<ProgramHeader> headers;
    if (ident(EI_CLASS) == ELFCLASS64) {
        headers = read_program_headers<Elf64_Ehdr, Elf64_Phdr>(image);
    } else if (ident(EI_CLASS) == ELFCLASS32) {
        headers = read_program_headers<Elf32_Ehdr, Elf32_Phdr>(image);
    } else {
        throw ConfigError(fmt::format("ELF kernel has an unknown class {}", ident(EI_CLASS)));
    }

    PvhElf elf;
    std::optional<uint32_t> entry;
    for (std::size_t i = 0; i < headers.size(); ++i) {
        const ProgramHeader& ph = headers[i];
        if (ph.type != PT_LOAD && ph.type != PT_NOTE) {
            continue;
        }
        if (ph.offset > image.size() || ph.filesz > image.size() - ph.offset) {
            throw ConfigError(fmt::format("ELF segment {} (file bytes {:#x}+{:#x}) lies beyond the end of the file "
                                          "({} bytes)",
                                          i, ph.offset, ph.filesz, image.size()));
        }
        if (ph.type == PT_NOTE) {
            if (!entry && ph.filesz <= kMaxNoteSegment) {
                entry = find_pvh_entry(*read_range(image, ph.offset, ph.filesz), ph.align);
            }
            continue;
        }
        if (ph.memsz < ph.filesz) {
            throw ConfigError(fmt::format("ELF segment {} has p_memsz {:#x} smaller than p_filesz {:#x}", i, ph.memsz,
                                          ph.filesz));
        }
        if (ph.memsz == 0) {
            continue;
        }
        uint64_t end = 0;
        if (__builtin_add_overflow(ph.paddr, ph.memsz, &end)) {
            throw ConfigError(fmt::format("ELF segment {} at {:#x}+{:#x} wraps around the address space", i, ph.paddr,
                                          ph.memsz));
        }
        if (ph.paddr < arch::kKernelStart) {
            throw ConfigError(fmt::format("ELF segment {} at {:#x} is below 1 MiB, where minivmm keeps its boot "
                                          "structures",
                                          i, ph.paddr));
        }
        elf.segments.push_back({i, ph.offset, ph.paddr, ph.filesz, ph.memsz});
    }
    if (!entry) {
        throw ConfigError("ELF kernel has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); build it with CONFIG_PVH=y");
    }
    if (elf.segments.empty()) {
        throw ConfigError("ELF kernel has no loadable segments");
    }
    std::sort(elf.segments.begin(), elf.segments.end(),
              [](const ElfSegment& a, const ElfSegment& b) { return a.paddr < b.paddr; });
    for (std::size_t i = 1; i < elf.segments.size(); ++i) {
        const ElfSegment& prev = elf.segments[i - 1];
        const ElfSegment& cur = elf.segments[i];
        if (prev.paddr + prev.memsz > cur.paddr) {
            throw ConfigError(fmt::format("ELF segments {} and {} overlap", std::min(prev.index, cur.index),
                                          std::max(prev.index, cur.index)));
        }
    }
    const bool entry_loaded = std::any_of(elf.segments.begin(), elf.segments.end(), [&](const ElfSegment& s) {
        return *entry >= s.paddr && *entry - s.paddr < s.filesz;
    });
    if (!entry_loaded) {
        throw ConfigError(fmt::format("PVH entry point {:#x} is not inside any loaded ELF segment", *entry));
    }
    elf.entry = *entry;
    return elf;
}

LoadedKernel load_pvh_elf(memory::GuestMemory& memory, const BootSpec& spec)
{
    const PvhElf elf = parse_pvh_elf(spec.kernel);
    const uint64_t ram_end = low_ram_end(memory);
    for (const ElfSegment& segment : elf.segments) {
        if (segment.paddr + segment.memsz > ram_end) {
            throw ConfigError(fmt::format("ELF segment {} ({:#x}-{:#x}) is outside guest RAM below the MMIO hole "
                                          "(RAM ends at {:#x}): give the guest more memory",
                                          segment.index, segment.paddr, segment.paddr + segment.memsz, ram_end));
        }
    }
    uint64_t kernel_end = arch::kKernelStart;
    for (const ElfSegment& segment : elf.segments) {
        const memory::GuestAddress at(segment.paddr);
        // Straight from the image to its place (for a file: one read into guest RAM).
        spec.kernel.read_at(segment.offset, memory.slice(at, segment.filesz));
        memory.fill(at + segment.filesz, segment.memsz - segment.filesz, std::byte{0});
        kernel_end = std::max(kernel_end, segment.paddr + segment.memsz);
    }

    const memory::GuestAddress cmdline = write_cmdline(memory, spec.cmdline, arch::kCmdlineMax - 1);

    // The start_info page (see pvh_elf.hpp): start_info, modlist, memmap.
    const memory::GuestAddress page(arch::kBootParams);
    memory.fill(page, kPvhInfoPageSize, std::byte{0});
    HvmStartInfo info{};
    info.magic = kHvmStartMagic;
    info.version = kHvmStartInfoVersion;
    info.cmdline_paddr = cmdline.value();
    if (spec.rsdp) {
        info.rsdp_paddr = spec.rsdp->value();
    }

    const std::vector<E820Entry> e820 = build_e820_map(memory.regions());
    constexpr uint64_t kMaxMemmap = (kPvhInfoPageSize - kPvhMemmapOffset) / sizeof(HvmMemmapTableEntry);
    if (e820.size() > kMaxMemmap) {
        throw ConfigError(fmt::format("memory map has {} entries; the PVH start info page holds {}", e820.size(),
                                      kMaxMemmap));
    }
    for (std::size_t i = 0; i < e820.size(); ++i) {
        const HvmMemmapTableEntry entry{e820[i].addr, e820[i].size, e820[i].type, 0};
        memory.write_obj(page + kPvhMemmapOffset + i * sizeof(HvmMemmapTableEntry), entry);
    }
    info.memmap_paddr = (page + kPvhMemmapOffset).value();
    info.memmap_entries = static_cast<uint32_t>(e820.size());

    LoadedKernel loaded;
    loaded.format = KernelFormat::PvhElf;
    loaded.entry = memory::GuestAddress(elf.entry);
    loaded.boot_info = page + kPvhStartInfoOffset;
    loaded.kernel_end = memory::GuestAddress(kernel_end);
    if (!spec.initrd.empty()) {
        // PVH has no initrd_addr_max; keep the initrd in low RAM all the same.
        const InitrdLocation initrd =
            load_initrd(memory, spec.initrd, loaded.kernel_end, arch::kMmioHoleStart - 1);
        const HvmModlistEntry module{initrd.address.value(), initrd.size, 0, 0};
        memory.write_obj(page + kPvhModlistOffset, module);
        info.nr_modules = 1;
        info.modlist_paddr = (page + kPvhModlistOffset).value();
        loaded.initrd = initrd;
    }
    memory.write_obj(loaded.boot_info, info);
    return loaded;
}

} // namespace minivmm::loader
