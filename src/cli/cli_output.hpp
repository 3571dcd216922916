// What the minivmm command prints besides the guest's own output: its log lines (spdlog, on
// stderr) and, when a run times out or the guest crashes, the console's last lines.
#pragma once

#include <minivmm/console.hpp>

#include <spdlog/common.h>

namespace minivmm::cli {

// Logs go to stderr so they never mix into the guest console (or a command's output) on stdout.
void setup_logging(spdlog::level::level_enum level);

// The guest console's last lines on stderr: when a CI run times out or a guest crashes, the
// reason is usually there, even when stdout went to a file or nowhere.
void print_console_tail(const Console& console);

} // namespace minivmm::cli
