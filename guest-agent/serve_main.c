/* minivmm-agent-serve: the guest agent's session (session.c) on descriptors 3-6 (control,
 * stdin, stdout and stderr ports) of an ordinary process, for the host-side tests of the
 * protocol (tests/unit/test_exec_session.cpp): no VM, the same code as in the guest. */
#include "agent.h"

#include <fcntl.h>
#include <signal.h>

int main(void)
{
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, 0);
    signal(SIGPIPE, SIG_IGN);
    struct agent_ports ports = {3, 4, 5, 6};
    for (int fd = 3; fd <= 6; ++fd) {
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        fcntl(fd, F_SETFL, O_NONBLOCK);
    }
    return agent_serve(&ports) == 0 ? 0 : 1;
}
