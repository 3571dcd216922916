#include "initramfs/module_tree.hpp"

#include "initramfs/decompress.hpp"
#include "initramfs/host_file.hpp"
#include "initramfs/modinfo.hpp"

#include <minivmm/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <functional>

namespace minivmm::initramfs {
namespace {

constexpr std::array<std::string_view, 4> kModuleSuffixes{".ko", ".ko.xz", ".ko.zst", ".ko.gz"};

// Calls `line(text, number)` for each line of `text` (without its '\n').
void for_each_line(std::span<const uint8_t> text, const std::function<void(std::string_view, size_t)>& line)
{
    const std::string all(text.begin(), text.end());
    size_t start = 0;
    size_t number = 1;
    while (start < all.size()) {
        const size_t end = std::min(all.find('\n', start), all.size());
        line(std::string_view(all).substr(start, end - start), number++);
        start = end + 1;
    }
}

std::vector<std::string_view> words_of(std::string_view text)
{
    std::vector<std::string_view> words;
    size_t pos = 0;
    while (pos < text.size()) {
        const size_t start = text.find_first_not_of(" \t\r", pos);
        if (start == std::string_view::npos) {
            break;
        }
        const size_t end = std::min(text.find_first_of(" \t\r", start), text.size());
        words.push_back(text.substr(start, end - start));
        pos = end;
    }
    return words;
}

} // namespace

std::string normalise_module_name(std::string_view name)
{
    std::string out(name);
    std::replace(out.begin(), out.end(), '-', '_');
    return out;
}

std::optional<std::string> module_name_of(std::string_view path)
{
    const auto slash = path.rfind('/');
    const auto file = slash == std::string_view::npos ? path : path.substr(slash + 1);
    for (const auto suffix : kModuleSuffixes) {
        if (file.size() > suffix.size() && file.ends_with(suffix)) {
            const auto name = file.substr(0, file.size() - suffix.size());
            const bool valid = std::all_of(name.begin(), name.end(), [](char c) {
                return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                       c == '-';
            });
            if (valid) {
                return normalise_module_name(name);
            }
        }
    }
    return std::nullopt;
}

ModuleTree ModuleTree::open(const std::filesystem::path& dir)
{
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
        throw ConfigError(fmt::format("module directory '{}' {}", dir.string(),
                                      std::filesystem::exists(dir, ec) ? "is not a directory" : "does not exist"));
    }
    ModuleTree tree(std::filesystem::absolute(dir, ec));
    const auto index = dir / "modules.dep";
    if (std::filesystem::exists(index, ec)) {
        tree.read_index(read_host_file(index, "module index", kMaxIndexSize));
        tree.has_index_ = true;
    } else {
        tree.walk_tree();
    }
    const auto builtin = dir / "modules.builtin";
    if (std::filesystem::exists(builtin, ec)) {
        tree.read_builtin(read_host_file(builtin, "built-in module list", kMaxIndexSize));
    }
    return tree;
}

void ModuleTree::read_index(std::span<const uint8_t> text)
{
    const auto path_of = [this](std::string_view word) {
        return word.starts_with('/') ? std::filesystem::path(word) : dir_ / word;
    };
    for_each_line(text, [&](std::string_view line, size_t number) {
        if (words_of(line).empty()) {
            return;
        }
        const auto colon = line.find(':');
        const auto name = colon == std::string_view::npos ? std::nullopt : module_name_of(line.substr(0, colon));
        if (!name) {
            throw ConfigError(fmt::format("{}/modules.dep line {}: not \"MODULE.ko: DEPENDENCIES\"", dir_.string(),
                                          number));
        }
        Entry entry{path_of(line.substr(0, colon)), std::vector<std::string>{}};
        for (const auto word : words_of(line.substr(colon + 1))) {
            const auto dep = module_name_of(word);
            if (!dep) {
                throw ConfigError(fmt::format("{}/modules.dep line {}: '{}' is not a module file", dir_.string(),
                                              number, word));
            }
            entry.depends->push_back(*dep);
        }
        // depmod lists each module once; should a name repeat, the first wins, as in modprobe.
        modules_.emplace(*name, std::move(entry));
    });
}

void ModuleTree::walk_tree()
{
    std::error_code ec;
    std::vector<std::filesystem::path> files;
    for (auto it = std::filesystem::recursive_directory_iterator(
             dir_, std::filesystem::directory_options::skip_permission_denied, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_regular_file(ec) && module_name_of(it->path().filename().string())) {
            files.push_back(it->path());
        }
    }
    // The same name twice (updates/ and kernel/): keep one, the same one every time.
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
        modules_.emplace(*module_name_of(file.filename().string()), Entry{file, std::nullopt});
    }
}

void ModuleTree::read_builtin(std::span<const uint8_t> text)
{
    for_each_line(text, [&](std::string_view line, size_t) {
        const auto words = words_of(line);
        if (!words.empty()) {
            if (const auto name = module_name_of(words.front())) {
                builtin_.insert(*name);
            }
        }
    });
}

bool ModuleTree::is_builtin(std::string_view name) const
{
    return builtin_.find(normalise_module_name(name)) != builtin_.end();
}

bool ModuleTree::has_module(std::string_view name) const
{
    return modules_.find(normalise_module_name(name)) != modules_.end();
}

std::vector<KernelModule> ModuleTree::load(std::span<const ModuleRequest> wanted,
                                           const std::optional<std::string>& release) const
{
    std::vector<KernelModule> order;
    std::set<std::string, std::less<>> done;
    std::set<std::string, std::less<>> visiting;
    std::function<void(const std::string&, const std::string&)> visit = [&](const std::string& name,
                                                                            const std::string& needed_by) {
        if (done.count(name) != 0 || builtin_.count(name) != 0) {
            return;
        }
        if (visiting.count(name) != 0) {
            throw ConfigError(fmt::format("kernel modules in '{}': dependency cycle through '{}'", dir_.string(), name));
        }
        const auto it = modules_.find(name);
        if (it == modules_.end()) {
            throw ConfigError(fmt::format("kernel module '{}'{} is neither in '{}' nor built into the kernel", name,
                                          needed_by.empty() ? "" : fmt::format(" (needed by '{}')", needed_by),
                                          dir_.string()));
        }
        visiting.insert(name);
        KernelModule module{name, it->second.path,
                            decompress(read_host_file(it->second.path, "kernel module", kMaxModuleSize),
                                       it->second.path.string(), kMaxModuleSize)};
        const auto info = read_modinfo(module.image);
        if (!info) {
            throw ConfigError(fmt::format("kernel module '{}' is not an ELF module with a .modinfo section",
                                          it->second.path.string()));
        }
        if (release && !info->vermagic.empty() && vermagic_release(info->vermagic) != *release) {
            throw ConfigError(fmt::format("kernel module '{}' was built for kernel {}, not {} (the kernel's release): "
                                          "give the modules of that kernel",
                                          it->second.path.string(), vermagic_release(info->vermagic), *release));
        }
        std::vector<std::string> depends;
        for (const auto& dep : it->second.depends ? *it->second.depends : info->depends) {
            depends.push_back(normalise_module_name(dep));
        }
        for (const auto& dep : depends) {
            visit(dep, name);
        }
        visiting.erase(name);
        done.insert(name);
        order.push_back(std::move(module));
    };
    for (const auto& request : wanted) {
        const auto name = normalise_module_name(request.name);
        if (!request.required && modules_.count(name) == 0) {
            continue;
        }
        visit(name, "");
    }
    return order;
}

} // namespace minivmm::initramfs
