// How much minivmm logs. Its lines (a guest doing something odd, a host failure) go through
// spdlog's default logger, shared with the embedding program if it uses spdlog too; by
// default that logger prints Info and above on stdout. The minivmm command sets Warn and
// stderr; a test harness usually wants set_log_level(LogLevel::Warn).
#pragma once

namespace minivmm {

enum class LogLevel { Trace, Debug, Info, Warn, Error, Off };

void set_log_level(LogLevel level);

} // namespace minivmm
