// The command line of the `minivmm` program, parsed into a VmConfig.
#pragma once

#include <minivmm/vm_config.hpp>

#include <spdlog/common.h>

#include <optional>
#include <string>
#include <variant>

namespace minivmm::cli {

struct Options {
    VmConfig vm;
    spdlog::level::level_enum log_level = spdlog::level::warn;
};

// What the command line asks for: run a VM, or print something and exit.
struct PrintAndExit {
    std::string text;
    int exit_code = 0;
};
using ParseResult = std::variant<Options, PrintAndExit>;

// Never throws and never exits: errors come back as PrintAndExit with exit code 125 and
// a one-line message naming the problem.
[[nodiscard]] ParseResult parse_options(int argc, const char* const argv[]);

} // namespace minivmm::cli
