#define _GNU_SOURCE
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

extern char **environ;

/* In the child, before exec: a setup step failed. Its reason goes to the parent through the
 * report pipe (closed on exec, so an empty read means the exec happened). */
static void __attribute__((noreturn)) report(int fd, const char *what, const char *arg, int err)
{
    char text[MVM_MAX_FAILED_TEXT];
    int n = snprintf(text, sizeof(text), "%s%s%s: %s", what, arg ? " " : "", arg ? arg : "", strerror(err));
    if (n > 0) {
        ssize_t ignored = write(fd, text, (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1);
        (void)ignored;
    }
    _exit(125);
}

static void child_setup(const struct run_spec *spec, int stdin_fd, int stdout_fd, int stderr_fd,
                        const char *pty_name, int report_fd)
{
    /* The agent blocks SIGCHLD and ignores SIGPIPE; a command starts with neither (an
     * ignored signal would stay ignored across exec). */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; ++sig) {
        signal(sig, SIG_DFL);
    }
    if (setsid() < 0) {
        report(report_fd, "cannot start a session", NULL, errno);
    }
    if (pty_name) {
        /* The session leader's first terminal becomes its controlling terminal. */
        int slave = open(pty_name, O_RDWR);
        if (slave < 0) {
            report(report_fd, "cannot open the terminal", pty_name, errno);
        }
        ioctl(slave, TIOCSCTTY, 0);
        stdin_fd = stdout_fd = stderr_fd = slave;
    }
    if (dup2(stdin_fd, 0) < 0 || dup2(stdout_fd, 1) < 0 || dup2(stderr_fd, 2) < 0) {
        report(report_fd, "cannot set up stdio", NULL, errno);
    }
    /* Every other descriptor of the agent is close-on-exec. */
    if (chdir(spec->cwd) != 0) {
        report(report_fd, "cannot change to directory", spec->cwd, errno);
    }
    if (setgroups(spec->n_groups, spec->groups) != 0 && !(errno == EPERM && getuid() == spec->uid)) {
        report(report_fd, "cannot set the supplementary groups", NULL, errno);
    }
    if (setgid(spec->gid) != 0) {
        report(report_fd, "cannot set the group", NULL, errno);
    }
    if (setuid(spec->uid) != 0) {
        report(report_fd, "cannot set the user", NULL, errno);
    }
    environ = spec->env;
    execvp(spec->argv[0], spec->argv);
    /* As a shell: 127 when there is no such command, 126 when it cannot be run. */
    int err = errno;
    if (err == ENOENT && !strchr(spec->argv[0], '/')) {
        dprintf(2, "minivmm: %s: command not found\n", spec->argv[0]);
    } else {
        dprintf(2, "minivmm: %s: %s\n", spec->argv[0], strerror(err));
    }
    _exit(err == ENOENT ? 127 : 126);
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

int spawn_command(const struct run_spec *spec, struct child *child, char *why, size_t why_len)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, rep[2] = {-1, -1};
    int master = -1;
    char pty_name[128] = "";
    child->pid = -1;
    child->in = child->out = child->err = child->master = -1;

    if (pipe2(rep, O_CLOEXEC) != 0) {
        snprintf(why, why_len, "cannot make a pipe: %s", strerror(errno));
        return -1;
    }
    if (spec->flags & MVM_RUN_TTY) {
        struct winsize ws = {.ws_row = spec->rows, .ws_col = spec->cols};
        master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0 ||
            ptsname_r(master, pty_name, sizeof(pty_name)) != 0) {
            snprintf(why, why_len, "cannot open a pseudo-terminal: %s", strerror(errno));
            goto fail;
        }
        ioctl(master, TIOCSWINSZ, &ws);
    } else if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
        snprintf(why, why_len, "cannot make a pipe: %s", strerror(errno));
        goto fail;
    }

    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, why_len, "cannot fork: %s", strerror(errno));
        goto fail;
    }
    if (pid == 0) {
        close(rep[0]);
        child_setup(spec, in[0], out[1], err[1], master >= 0 ? pty_name : NULL, rep[1]);
    }
    close_fd(&rep[1]);
    close_fd(&in[0]);
    close_fd(&out[1]);
    close_fd(&err[1]);

    /* Wait for the exec (the report pipe closes) or a reason (then the child has exited). */
    ssize_t n;
    do {
        n = read(rep[0], why, why_len - 1);
    } while (n < 0 && errno == EINTR);
    close_fd(&rep[0]);
    if (n > 0) {
        why[n] = 0;
        waitpid(pid, NULL, 0);
        close_fd(&in[1]);
        close_fd(&out[0]);
        close_fd(&err[0]);
        close_fd(&master);
        return -1;
    }

    child->pid = pid;
    if (master >= 0) {
        child->master = master;
        child->in = master;
        child->out = fcntl(master, F_DUPFD_CLOEXEC, 0);
        fcntl(master, F_SETFL, O_NONBLOCK);
    } else {
        child->in = in[1];
        child->out = out[0];
        child->err = err[0];
        fcntl(child->in, F_SETFL, O_NONBLOCK);
        fcntl(child->out, F_SETFL, O_NONBLOCK);
        fcntl(child->err, F_SETFL, O_NONBLOCK);
    }
    return 0;

fail:
    close_fd(&rep[0]);
    close_fd(&rep[1]);
    close_fd(&in[0]);
    close_fd(&in[1]);
    close_fd(&out[0]);
    close_fd(&out[1]);
    close_fd(&err[0]);
    close_fd(&err[1]);
    close_fd(&master);
    return -1;
}
