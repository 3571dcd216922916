// `minivmm exec`: parse (exec_options.hpp), boot the exec VM, run the command with minivmm's
// own stdio, forward signals and the terminal's size, and exit with the command's status.
#pragma once

namespace minivmm::cli {

[[nodiscard]] bool is_exec_command(int argc, const char* const argv[]);
// The whole command; returns the process exit code.
[[nodiscard]] int run_exec_command(int argc, const char* const argv[]);

} // namespace minivmm::cli
