#include "cli/process_guards.hpp"

#include <csignal>
#include <sys/prctl.h>

namespace minivmm::cli {

void guard_process()
{
    std::signal(SIGPIPE, SIG_IGN);
    ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

} // namespace minivmm::cli
