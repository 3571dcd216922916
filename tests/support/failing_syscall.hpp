// Makes one system call fail on purpose, for tests of what the host refusing it does: `body`
// runs on a thread of its own under a seccomp filter that answers `syscall` with `error`
// (only when its argument `arg_index` equals `arg_value`, if given) and allows everything
// else. The filter belongs to that thread alone and ends with it. Rethrows what body threw.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

namespace minivmm::test {

struct SyscallArg {
    unsigned index = 0;
    uint64_t value = 0;
};

void run_with_failing_syscall(const char* syscall, int error, const std::function<void()>& body,
                              std::optional<SyscallArg> arg = std::nullopt);

} // namespace minivmm::test
