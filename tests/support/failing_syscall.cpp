#include "support/failing_syscall.hpp"

#include "support/support_check.hpp"

#include <seccomp.h>
#include <sys/prctl.h>

#include <exception>
#include <thread>

namespace minivmm::test {

void run_with_failing_syscall(const char* syscall, int error, const std::function<void()>& body,
                              std::optional<SyscallArg> arg)
{
    std::exception_ptr thrown;
    std::thread thread([&] {
        try {
            const int nr = seccomp_syscall_resolve_name(syscall);
            support_check(nr != __NR_SCMP_ERROR, "unknown system call name");
            scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
            support_check(ctx != nullptr, "seccomp_init failed");
            int rc = 0;
            if (arg) {
                rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(static_cast<uint32_t>(error)), nr, 1,
                                      scmp_arg_cmp{arg->index, SCMP_CMP_EQ, arg->value, 0});
            } else {
                rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(static_cast<uint32_t>(error)), nr, 0);
            }
            // This thread only (no TSYNC): the filter ends with it.
            const bool loaded = rc == 0 && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && seccomp_load(ctx) == 0;
            seccomp_release(ctx);
            support_check(loaded, "cannot install the seccomp filter");
            body();
        } catch (...) {
            thrown = std::current_exception();
        }
    });
    thread.join();
    if (thrown) {
        std::rethrow_exception(thrown);
    }
}

} // namespace minivmm::test
