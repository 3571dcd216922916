// The command line of `minivmm exec [OPTIONS] -- COMMAND [ARGS...]`, parsed into an ExecConfig:
// a CLI11 subcommand with the VM options of `minivmm` and the exec options of its own.
#pragma once

#include "cli/options.hpp"

#include <minivmm/exec.hpp>

#include <spdlog/common.h>

#include <string>
#include <variant>
#include <vector>

namespace minivmm::cli {

// Whether the command gets a pseudo-terminal.
enum class TtyMode {
    Auto,   // when stdin and stdout are both terminals
    Always, // -t
    Never,  // -T
};

struct ExecOptions {
    ExecConfig config; // config.command: argv, and env = the caller's environment with --env applied
    spdlog::level::level_enum log_level = spdlog::level::warn;
    bool verbose = false; // the kernel's messages on stderr
    TtyMode tty = TtyMode::Auto;
};
using ExecParseResult = std::variant<ExecOptions, PrintAndExit>;

// argv[0] is "minivmm", argv[1] "exec". `environment` is the caller's (NAME=VALUE each). Never
// throws and never exits: errors come back as PrintAndExit with exit code 125 and one line.
[[nodiscard]] ExecParseResult parse_exec_options(int argc, const char* const argv[],
                                                 const std::vector<std::string>& environment);

// `environment` with each NAME=VALUE of `overrides` set (replacing the same NAME).
[[nodiscard]] std::vector<std::string> apply_env(std::vector<std::string> environment,
                                                 const std::vector<std::string>& overrides);

} // namespace minivmm::cli
