// One kernel's modules as a host has them (/lib/modules/RELEASE, or any copy of it): which
// modules to load for a set of drivers, dependencies first, read and decompressed.
//  - modules.dep (depmod's index: "kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/
//    virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko") gives each module's file and
//    dependencies; without it, the tree is walked for *.ko[.xz|.zst|.gz] and each module's
//    dependencies are read from its own depends= (modinfo.hpp).
//  - modules.builtin lists the drivers built into the kernel: they need no file.
// Module names are compared as the kernel does, with '-' and '_' the same ("pvpanic-mmio" is
// "pvpanic_mmio").
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace minivmm::initramfs {

struct ModuleRequest {
    std::string name;
    bool required = true; // false: skipped quietly when the kernel has it neither way
};

struct KernelModule {
    std::string name;            // normalised: "virtio_console"
    std::filesystem::path path;  // the host file it came from
    std::vector<uint8_t> image;  // the ELF object, decompressed
};

class ModuleTree final {
public:
    static constexpr size_t kMaxModuleSize = 64ULL << 20; // uncompressed; the largest are ~10 MiB
    static constexpr size_t kMaxIndexSize = 64ULL << 20;  // modules.dep of a full distribution kernel: ~1 MiB

    // Reads the indexes of `dir`. Throws ConfigError when `dir` is not a readable directory or
    // an index is malformed.
    [[nodiscard]] static ModuleTree open(const std::filesystem::path& dir);

    [[nodiscard]] const std::filesystem::path& dir() const { return dir_; }
    // Whether DIR/modules.dep was there (otherwise the tree was walked).
    [[nodiscard]] bool has_index() const { return has_index_; }
    [[nodiscard]] bool is_builtin(std::string_view name) const;
    [[nodiscard]] bool has_module(std::string_view name) const;

    // The modules to load for `wanted`, in load order: each one after its dependencies, each
    // once, built-in ones left out. Throws ConfigError for a required module (or a dependency)
    // that is neither a module here nor built in, a dependency cycle, a module that cannot be
    // read or decompressed, and, when `release` is given, a module built for another kernel
    // (its vermagic= names another release).
    [[nodiscard]] std::vector<KernelModule> load(std::span<const ModuleRequest> wanted,
                                                 const std::optional<std::string>& release) const;

private:
    struct Entry {
        std::filesystem::path path;                      // absolute
        std::optional<std::vector<std::string>> depends; // nullopt: read the module's depends=
    };

    explicit ModuleTree(std::filesystem::path dir) : dir_(std::move(dir)) {}
    void read_index(std::span<const uint8_t> text);
    void walk_tree();
    void read_builtin(std::span<const uint8_t> text);

    std::filesystem::path dir_;
    bool has_index_ = false;
    std::map<std::string, Entry, std::less<>> modules_;
    std::set<std::string, std::less<>> builtin_;
};

// "kernel/drivers/char/hw_random/virtio-rng.ko.xz" -> "virtio_rng"; nullopt when the file
// name is not NAME.ko[.xz|.zst|.gz] with NAME of letters, digits, '_' and '-'.
[[nodiscard]] std::optional<std::string> module_name_of(std::string_view path);
// '-' -> '_', as the kernel compares module names.
[[nodiscard]] std::string normalise_module_name(std::string_view name);

} // namespace minivmm::initramfs
