#include "initramfs/modinfo.hpp"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <string_view>

namespace minivmm::initramfs {
namespace {

template <typename T>
std::optional<T> read_at(std::span<const uint8_t> data, uint64_t offset)
{
    if (offset > data.size() || sizeof(T) > data.size() - offset) {
        return std::nullopt;
    }
    T value;
    std::memcpy(&value, data.data() + offset, sizeof(T));
    return value;
}

std::optional<std::span<const uint8_t>> sub(std::span<const uint8_t> data, uint64_t offset, uint64_t size)
{
    if (offset > data.size() || size > data.size() - offset) {
        return std::nullopt;
    }
    return data.subspan(offset, size);
}

// The NUL-terminated string at `offset` of `table`, if it ends inside the table.
std::optional<std::string> string_at(std::span<const uint8_t> table, uint64_t offset)
{
    if (offset >= table.size()) {
        return std::nullopt;
    }
    const auto rest = table.subspan(offset);
    const auto nul = std::find(rest.begin(), rest.end(), uint8_t{0});
    if (nul == rest.end()) {
        return std::nullopt;
    }
    return std::string(rest.begin(), nul);
}

// The bytes of the section called `wanted`.
std::optional<std::span<const uint8_t>> find_section(std::span<const uint8_t> elf, std::string_view wanted)
{
    const auto header = read_at<Elf64_Ehdr>(elf, 0);
    if (!header || std::memcmp(header->e_ident, ELFMAG, SELFMAG) != 0 || header->e_ident[EI_CLASS] != ELFCLASS64 ||
        header->e_ident[EI_DATA] != ELFDATA2LSB || header->e_shentsize != sizeof(Elf64_Shdr) ||
        header->e_shstrndx >= header->e_shnum) {
        return std::nullopt;
    }
    const auto section = [&](uint64_t index) {
        return read_at<Elf64_Shdr>(elf, header->e_shoff + index * sizeof(Elf64_Shdr));
    };
    if (header->e_shoff > elf.size()) {
        return std::nullopt;
    }
    const auto names_header = section(header->e_shstrndx);
    if (!names_header) {
        return std::nullopt;
    }
    const auto names = sub(elf, names_header->sh_offset, names_header->sh_size);
    if (!names) {
        return std::nullopt;
    }
    for (uint64_t i = 0; i < header->e_shnum; ++i) {
        const auto shdr = section(i);
        if (!shdr) {
            return std::nullopt;
        }
        const auto name = string_at(*names, shdr->sh_name);
        if (name && *name == wanted && shdr->sh_type != SHT_NOBITS) {
            return sub(elf, shdr->sh_offset, shdr->sh_size);
        }
    }
    return std::nullopt;
}

std::vector<std::string> split_commas(const std::string& text)
{
    std::vector<std::string> words;
    size_t start = 0;
    while (start <= text.size()) {
        const size_t end = std::min(text.find(',', start), text.size());
        if (end > start) {
            words.push_back(text.substr(start, end - start));
        }
        start = end + 1;
    }
    return words;
}

} // namespace

std::optional<ModuleInfo> read_modinfo(std::span<const uint8_t> ko)
{
    const auto section = find_section(ko, ".modinfo");
    if (!section) {
        return std::nullopt;
    }
    ModuleInfo info;
    auto it = section->begin();
    while (it != section->end()) {
        const auto nul = std::find(it, section->end(), uint8_t{0});
        const std::string entry(it, nul);
        it = nul == section->end() ? nul : nul + 1;
        const auto eq = entry.find('=');
        if (eq == std::string::npos) {
            continue; // padding between entries is NUL bytes: empty entries
        }
        const auto key = std::string_view(entry).substr(0, eq);
        const auto value = entry.substr(eq + 1);
        if (key == "name") {
            info.name = value;
        } else if (key == "depends") {
            info.depends = split_commas(value);
        } else if (key == "vermagic") {
            info.vermagic = value;
        }
    }
    return info;
}

std::string vermagic_release(const std::string& vermagic) { return vermagic.substr(0, vermagic.find(' ')); }

} // namespace minivmm::initramfs
