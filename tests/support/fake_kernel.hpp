// Stand-ins for a kernel's files in the unit tests of `minivmm exec`'s boot plan: a bzImage
// header that names its release, and a kernel module (an ELF64 relocatable with a .modinfo
// section) with name=, depends= and vermagic=. Header-only and Catch2-free.
#pragma once

#include <elf.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace minivmm::test {

inline void write_bytes(const std::filesystem::path& path, const std::vector<uint8_t>& data)
{
    std::filesystem::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

// The setup header of a bzImage (boot protocol 2.15) whose kernel_version names `version`;
// only what kernel_release() reads, not a bootable kernel.
inline std::vector<uint8_t> fake_bzimage(const std::string& version)
{
    std::vector<uint8_t> image(0x4000);
    const auto put16 = [&](size_t at, uint16_t v) { std::memcpy(image.data() + at, &v, 2); };
    image[0x1f1] = 0x1e;
    put16(0x1fe, 0xaa55);
    std::memcpy(image.data() + 0x202, "HdrS", 4);
    put16(0x206, 0x020f);
    put16(0x20e, 0x3000 - 0x200);
    std::memcpy(image.data() + 0x3000, version.c_str(), version.size() + 1);
    return image;
}

// A kernel module: "\0"-separated `modinfo` entries ("name=x", "depends=a,b", "vermagic=...").
inline std::vector<uint8_t> fake_module(const std::vector<std::string>& modinfo)
{
    std::vector<uint8_t> info;
    for (const auto& entry : modinfo) {
        info.insert(info.end(), entry.begin(), entry.end());
        info.push_back(0);
    }
    const std::string shstrtab("\0.modinfo\0.shstrtab\0", 20);
    std::vector<uint8_t> elf(sizeof(Elf64_Ehdr), 0);
    const uint64_t info_offset = elf.size();
    elf.insert(elf.end(), info.begin(), info.end());
    const uint64_t names_offset = elf.size();
    elf.insert(elf.end(), shstrtab.begin(), shstrtab.end());
    elf.resize((elf.size() + 7) & ~size_t{7}, 0);
    const uint64_t shoff = elf.size();
    std::array<Elf64_Shdr, 3> sections{};
    sections[1].sh_name = 1;
    sections[1].sh_type = SHT_PROGBITS;
    sections[1].sh_offset = info_offset;
    sections[1].sh_size = info.size();
    sections[2].sh_name = 10;
    sections[2].sh_type = SHT_STRTAB;
    sections[2].sh_offset = names_offset;
    sections[2].sh_size = shstrtab.size();
    std::vector<uint8_t> table(sizeof(sections));
    std::memcpy(table.data(), sections.data(), sizeof(sections));
    elf.insert(elf.end(), table.begin(), table.end());
    Elf64_Ehdr header{};
    std::memcpy(header.e_ident, ELFMAG, SELFMAG);
    header.e_ident[EI_CLASS] = ELFCLASS64;
    header.e_ident[EI_DATA] = ELFDATA2LSB;
    header.e_ident[EI_VERSION] = EV_CURRENT;
    header.e_type = ET_REL;
    header.e_machine = EM_X86_64;
    header.e_version = EV_CURRENT;
    header.e_shoff = shoff;
    header.e_ehsize = sizeof(Elf64_Ehdr);
    header.e_shentsize = sizeof(Elf64_Shdr);
    header.e_shnum = 3;
    header.e_shstrndx = 2;
    std::memcpy(elf.data(), &header, sizeof(header));
    return elf;
}

// Writes module `rel` (a path in `tree`) named `name` needing `depends` (comma-separated),
// built for `release`.
inline void add_fake_module(const std::filesystem::path& tree, const std::string& rel, const std::string& name,
                            const std::string& depends, const std::string& release)
{
    write_bytes(tree / rel, fake_module({"depends=" + depends, "name=" + name, "vermagic=" + release + " SMP "}));
}

} // namespace minivmm::test
