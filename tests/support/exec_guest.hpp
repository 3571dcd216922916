// Helpers for the [linux] tests of `minivmm exec`: the default Linux guest's kernels with
// their whole module trees as a host has them (scripts/build-module-trees.sh: plain, zstd,
// xz), a scratch directory the guest sees through the root share (not under /tmp, which is
// the guest's own tmpfs), and a runner for the minivmm binary.
#pragma once

#include "support/linux_guest.hpp"

#include <minivmm/exec.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace minivmm::test {

// The RELEASE directory of a module tree ("modules-cloud", "modules-cloud-zst",
// "modules-generic-xz"); empty when it is not built.
inline std::filesystem::path module_tree(const std::string& name)
{
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(linux_guest_file(name), ec)) {
        if (entry.is_directory(ec) && std::filesystem::exists(entry.path() / "modules.dep", ec)) {
            return entry.path();
        }
    }
    return {};
}

// The [linux] guards plus the module trees.
inline bool exec_tier_available()
{
    if (!linux_tier_available()) {
        return false;
    }
    for (const char* tree : {"modules-cloud", "modules-cloud-zst", "modules-generic-xz"}) {
        if (module_tree(tree).empty()) {
            const std::string what = std::string("module tree ") + tree + " is not built in " MINIVMM_LINUX_GUEST_DIR
                                     " (cmake --build build --target linux-guest)";
            const char* require = std::getenv("MINIVMM_REQUIRE_LINUX_GUEST");
            if (require != nullptr && std::string(require) == "1") {
                FAIL(what);
            }
            WARN("SKIPPED: " << what);
            return false;
        }
    }
    return true;
}

// A directory under the build tree, removed at the end; the guest sees it at the same path.
struct ExecScratch {
    std::filesystem::path path;
    explicit ExecScratch(const std::string& name)
        : path(std::filesystem::path(MINIVMM_BINARY_DIR) / "tests" /
               ("exec-" + name + "-" + std::to_string(::getpid())))
    {
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~ExecScratch()
    {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

// An ExecConfig for the cloud kernel and its plain module tree.
inline ExecConfig cloud_exec_config()
{
    ExecConfig config;
    config.vm.kernel = linux_guest_file("vmlinuz-cloud");
    config.vm.memory_bytes = 512 * kMiB;
    config.vm.cmdline = "quiet noxsave";
    config.vm.timeout = std::chrono::seconds(300);
    config.modules = module_tree("modules-cloud");
    return config;
}

// `minivmm exec` with the kernel `kernel` (file in MINIVMM_LINUX_GUEST_DIR) and module tree `tree`.
inline std::vector<std::string> exec_argv(const std::string& kernel, const std::string& tree,
                                          const std::vector<std::string>& options, const std::vector<std::string>& command)
{
    std::vector<std::string> argv{MINIVMM_BINARY, "exec", "--kernel", linux_guest_file(kernel), "--modules",
                                  module_tree(tree).string(), "--cmdline", "quiet noxsave"};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.emplace_back("--");
    argv.insert(argv.end(), command.begin(), command.end());
    return argv;
}

} // namespace minivmm::test
