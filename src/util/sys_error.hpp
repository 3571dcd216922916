// Turning a failed system call into a HostError whose message names the call and errno.
#pragma once

#include <minivmm/error.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <string_view>

namespace minivmm::util {

[[nodiscard]] inline std::string errno_text(int err)
{
    return fmt::format("{} (errno {})", std::strerror(err), err);
}

[[noreturn]] inline void throw_sys_error(std::string_view what, int err = errno)
{
    throw HostError(fmt::format("{} failed: {}", what, errno_text(err)));
}

} // namespace minivmm::util
