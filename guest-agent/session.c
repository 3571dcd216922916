#define _GNU_SOURCE
#include "agent.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define BUF_SIZE 65536
/* After the command exits, what its pipes still hold is sent; a background process that
 * keeps writing into them is not waited for beyond this much. */
#define DRAIN_LIMIT (16u << 20)
/* A pty hands the command's last output to its master side asynchronously: once the command
 * has exited, the master is read until it reports the terminal closed (EIO) or, when a
 * background process still holds the terminal, until it has been quiet this long. */
#define PTY_QUIET_MS 100

struct buffer {
    uint8_t data[BUF_SIZE];
    size_t start;
    size_t end;
};

static bool buffer_empty(const struct buffer *b) { return b->start == b->end; }

/* One command's relay state. */
struct run {
    struct child child;
    bool exited;
    int status;
    struct buffer in, out, err;
    uint64_t stdin_read;  /* bytes taken from the stdin port in this run */
    uint64_t stdin_total; /* from STDIN_END; UINT64_MAX until then */
    uint64_t out_sent;
    uint64_t err_sent;
    uint64_t drained; /* bytes read from the pipes after the command exited */
    int quiet_polls;  /* pty: polls without output since the command exited */
};

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; ++i) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void put_u64(uint8_t *p, uint64_t v)
{
    put_u32(p, (uint32_t)v);
    put_u32(p + 4, (uint32_t)(v >> 32));
}

/* Reaps every child that has exited (PID 1 inherits orphans); records the command's status. */
static void reap(struct run *run)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (run && pid == run->child.pid) {
            run->exited = true;
            run->status = status;
        }
    }
}

static void take_signals(int sfd, struct run *run)
{
    struct signalfd_siginfo info;
    while (read(sfd, &info, sizeof(info)) == (ssize_t)sizeof(info)) {
    }
    reap(run);
}

/* Reads from `fd` into an empty buffer. Returns the count, 0 at end of file (EIO from a pty
 * whose other side is closed counts as that), -1 when nothing is there now. */
static ssize_t fill(int fd, struct buffer *b, size_t max)
{
    ssize_t n;
    do {
        n = read(fd, b->data, max < BUF_SIZE ? max : BUF_SIZE);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        b->start = 0;
        b->end = (size_t)n;
        return n;
    }
    if (n == 0 || errno == EIO) {
        return 0;
    }
    return -1;
}

/* Writes what the buffer holds to `fd`. Returns bytes written, -1 on a broken reader. */
static ssize_t flush(int fd, struct buffer *b)
{
    ssize_t n;
    do {
        n = write(fd, b->data + b->start, b->end - b->start);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        b->start += (size_t)n;
        return n;
    }
    return (n < 0 && errno == EAGAIN) ? 0 : -1;
}

/* A message from the host during a run (RUN is refused: one command at a time). */
static int handle_message(struct run *run, uint32_t type, const uint8_t *payload, uint32_t len)
{
    switch (type) {
    case MVM_MSG_STDIN_END:
        if (len != 8) {
            return -1;
        }
        run->stdin_total = get_u64(payload);
        return 0;
    case MVM_MSG_RESIZE:
        if (len != 4) {
            return -1;
        }
        if (run->child.master >= 0) {
            struct winsize ws = {.ws_row = (unsigned short)(payload[0] | payload[1] << 8),
                                 .ws_col = (unsigned short)(payload[2] | payload[3] << 8)};
            ioctl(run->child.master, TIOCSWINSZ, &ws);
        }
        return 0;
    case MVM_MSG_SIGNAL:
        if (len != 4) {
            return -1;
        }
        if (run->child.pid > 0 && !run->exited) {
            int sig = (int)get_u32(payload);
            if (kill(-run->child.pid, sig) != 0) {
                kill(run->child.pid, sig);
            }
        }
        return 0;
    case MVM_MSG_OUTPUT_CLOSED:
        if (len != 4) {
            return -1;
        }
        /* The command's writes now fail (SIGPIPE), as they would on the host. */
        if (get_u32(payload) == 2) {
            close_fd(&run->child.err);
            run->err.start = run->err.end = 0;
        } else if (run->child.master >= 0) {
            close_fd(&run->child.out); /* the pty: hang it up */
            run->child.in = -1;
            close_fd(&run->child.master);
            run->out.start = run->out.end = 0;
        } else {
            close_fd(&run->child.out);
            run->out.start = run->out.end = 0;
        }
        return 0;
    default:
        agent_log("unexpected message %u from the host during a run", type);
        return -1;
    }
}

/* Acts on the messages already read (a read can bring several: RUN and STDIN_END come
 * together when the run has no stdin). */
static int handle_buffered(struct msg_reader *reader, struct run *run)
{
    uint32_t type, len;
    const uint8_t *payload;
    int got;
    while ((got = reader_peek(reader, &type, &payload, &len)) == 1) {
        if (handle_message(run, type, payload, len) != 0) {
            return -1;
        }
        reader_drop(reader);
    }
    return got;
}

static int handle_control(const struct agent_ports *ports, struct msg_reader *reader, struct run *run)
{
    if (reader_fill(reader, ports->control) != 0) {
        return -1;
    }
    return handle_buffered(reader, run);
}

/* The stdin port, for this run: as much as is left of the run's stdin. */
static void read_stdin(const struct agent_ports *ports, struct run *run)
{
    uint64_t left = run->stdin_total - run->stdin_read;
    ssize_t n = fill(ports->in, &run->in, left < BUF_SIZE ? (size_t)left : BUF_SIZE);
    if (n > 0) {
        run->stdin_read += (uint64_t)n;
    } else if (n == 0) {
        run->stdin_total = run->stdin_read; /* the host closed the port: nothing more comes */
    }
    if (run->child.in < 0) {
        run->in.start = run->in.end = 0; /* the command closed its stdin: dropped */
    }
}

/* The command's stdout or stderr pipe into its buffer. */
static void read_output(int *fd, struct buffer *b, struct run *run)
{
    ssize_t n = fill(*fd, b, BUF_SIZE);
    if (n < 0 && run->exited && run->child.master >= 0) {
        /* pty: see PTY_QUIET_MS (polls of 10 ms once the command has exited). */
        if (++run->quiet_polls * 10 >= PTY_QUIET_MS) {
            close_fd(fd);
        }
        return;
    }
    if (n > 0) {
        run->quiet_polls = 0;
    }
    if (n == 0 || (n < 0 && run->exited)) {
        close_fd(fd); /* end of file, or empty after the command exited */
    } else if (n > 0 && run->exited) {
        run->drained += (uint64_t)n;
        if (run->drained > DRAIN_LIMIT) {
            close_fd(fd);
        }
    }
}

static bool run_done(const struct run *run)
{
    return run->exited && run->child.out < 0 && run->child.err < 0 && buffer_empty(&run->out) &&
           buffer_empty(&run->err);
}

/* Relays stdio until the command has exited and its output is sent. -1: the control port broke. */
static int relay(const struct agent_ports *ports, int sfd, struct msg_reader *reader, struct run *run)
{
    if (handle_buffered(reader, run) != 0) {
        return -1;
    }
    while (!run_done(run)) {
        /* All of this run's stdin is in: the command sees end of file (a pty has none). */
        if (run->stdin_read == run->stdin_total && buffer_empty(&run->in) && run->child.master < 0) {
            close_fd(&run->child.in);
        }
        struct pollfd p[8];
        int n = 0;
        int i_ctl = n;
        p[n++] = (struct pollfd){.fd = ports->control, .events = POLLIN};
        int i_sig = n;
        p[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
        int i_port_in = -1, i_child_in = -1, i_child_out = -1, i_port_out = -1, i_child_err = -1, i_port_err = -1;
        if (buffer_empty(&run->in) && run->stdin_read < run->stdin_total) {
            i_port_in = n;
            p[n++] = (struct pollfd){.fd = ports->in, .events = POLLIN};
        }
        if (!buffer_empty(&run->in) && run->child.in >= 0) {
            i_child_in = n;
            p[n++] = (struct pollfd){.fd = run->child.in, .events = POLLOUT};
        }
        if (buffer_empty(&run->out) && run->child.out >= 0) {
            i_child_out = n;
            p[n++] = (struct pollfd){.fd = run->child.out, .events = POLLIN};
        }
        if (!buffer_empty(&run->out)) {
            i_port_out = n;
            p[n++] = (struct pollfd){.fd = ports->out, .events = POLLOUT};
        }
        if (buffer_empty(&run->err) && run->child.err >= 0) {
            i_child_err = n;
            p[n++] = (struct pollfd){.fd = run->child.err, .events = POLLIN};
        }
        if (!buffer_empty(&run->err)) {
            i_port_err = n;
            p[n++] = (struct pollfd){.fd = ports->err, .events = POLLOUT};
        }
        /* Once the command has exited, its pipes are read until they are empty: no waiting
         * (a pty: PTY_QUIET_MS). */
        int timeout = !run->exited ? -1 : run->child.master >= 0 ? 10 : 0;
        if (poll(p, (nfds_t)n, timeout) < 0) {
            if (errno == EINTR) {
                continue;
            }
            agent_log("poll: %s", strerror(errno));
            return -1;
        }
        if (p[i_sig].revents) {
            take_signals(sfd, run);
        }
        if (p[i_ctl].revents && handle_control(ports, reader, run) != 0) {
            return -1;
        }
        if (i_port_in >= 0 && p[i_port_in].revents) {
            read_stdin(ports, run);
        }
        if (i_child_in >= 0 && p[i_child_in].revents && run->child.in >= 0) {
            if (flush(run->child.in, &run->in) < 0) {
                /* The command closed its stdin: the rest of it is dropped. */
                if (run->child.master < 0) {
                    close_fd(&run->child.in);
                }
                run->in.start = run->in.end = 0;
            }
        }
        if (i_port_out >= 0 && p[i_port_out].revents && !buffer_empty(&run->out)) {
            ssize_t w = flush(ports->out, &run->out);
            if (w < 0) {
                return -1;
            }
            run->out_sent += (uint64_t)w;
        }
        if (i_port_err >= 0 && p[i_port_err].revents && !buffer_empty(&run->err)) {
            ssize_t w = flush(ports->err, &run->err);
            if (w < 0) {
                return -1;
            }
            run->err_sent += (uint64_t)w;
        }
        if (run->child.out >= 0 && buffer_empty(&run->out) &&
            ((i_child_out >= 0 && p[i_child_out].revents) || run->exited)) {
            read_output(&run->child.out, &run->out, run);
        }
        if (run->child.err >= 0 && buffer_empty(&run->err) &&
            ((i_child_err >= 0 && p[i_child_err].revents) || run->exited)) {
            read_output(&run->child.err, &run->err, run);
        }
    }
    return 0;
}

static int send_exit(int control, const struct run *run)
{
    uint8_t payload[MVM_EXIT_PAYLOAD_SIZE];
    bool killed = WIFSIGNALED(run->status);
    put_u32(payload, killed ? MVM_KILLED : MVM_EXITED);
    put_u32(payload + 4, (uint32_t)(killed ? WTERMSIG(run->status) : WEXITSTATUS(run->status)));
    put_u64(payload + 8, run->out_sent);
    put_u64(payload + 16, run->err_sent);
    return send_message(control, MVM_MSG_EXIT, payload, sizeof(payload));
}

/* After EXIT or FAILED: reads and drops the rest of this run's stdin (its length comes with
 * STDIN_END), so that the next run starts on its own bytes. */
static int drain_stdin(const struct agent_ports *ports, int sfd, struct msg_reader *reader, struct run *run)
{
    if (handle_buffered(reader, run) != 0) {
        return -1;
    }
    while (run->stdin_read < run->stdin_total || run->stdin_total == UINT64_MAX) {
        struct pollfd p[3] = {{.fd = ports->control, .events = POLLIN},
                              {.fd = sfd, .events = POLLIN},
                              {.fd = ports->in, .events = run->stdin_read < run->stdin_total ? POLLIN : 0}};
        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (p[1].revents) {
            take_signals(sfd, NULL);
        }
        if (p[0].revents && handle_control(ports, reader, run) != 0) {
            return -1;
        }
        if (p[2].revents) {
            run->in.start = run->in.end = 0;
            read_stdin(ports, run);
            run->in.start = run->in.end = 0;
        }
    }
    return 0;
}

static void end_run(struct run *run)
{
    if (run->child.master >= 0) {
        if (run->child.in == run->child.master) {
            run->child.in = -1;
        }
        close_fd(&run->child.master);
    }
    close_fd(&run->child.in);
    close_fd(&run->child.out);
    close_fd(&run->child.err);
}

/* One RUN: start, relay, report. -1 when the control port broke. */
static int serve_run(const struct agent_ports *ports, int sfd, struct msg_reader *reader, const uint8_t *payload,
                     uint32_t len)
{
    struct run_spec spec;
    static struct run run; /* 192 KiB of buffers: not on the stack */
    memset(&run, 0, sizeof(run));
    run.child.pid = -1;
    run.child.in = run.child.out = run.child.err = run.child.master = -1;
    run.stdin_total = UINT64_MAX;
    int rc = 0;
    if (decode_run(payload, len, &spec) != 0) {
        free_run_spec(&spec);
        agent_log("malformed RUN message");
        return -1;
    }
    char why[MVM_MAX_FAILED_TEXT];
    if (spawn_command(&spec, &run.child, why, sizeof(why)) != 0) {
        rc = send_failed(ports->control, why);
    } else {
        rc = relay(ports, sfd, reader, &run);
        end_run(&run);
        /* Whatever the command wrote to a shared file system reaches the host before EXIT. */
        sync();
        if (rc == 0) {
            rc = send_exit(ports->control, &run);
        }
    }
    free_run_spec(&spec);
    if (rc == 0) {
        rc = drain_stdin(ports, sfd, reader, &run);
    }
    return rc;
}

int agent_serve(const struct agent_ports *ports)
{
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) {
        agent_log("signalfd: %s", strerror(errno));
        return -1;
    }
    struct msg_reader reader = {0};
    int rc = send_ready(ports->control);
    while (rc == 0) {
        struct pollfd p[2] = {{.fd = ports->control, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            rc = -1;
            break;
        }
        if (p[1].revents) {
            take_signals(sfd, NULL);
        }
        if (!p[0].revents) {
            continue;
        }
        if (reader_fill(&reader, ports->control) != 0) {
            rc = 0; /* the host closed the port: the session is over */
            break;
        }
        uint32_t type, len;
        const uint8_t *payload;
        int got = reader_peek(&reader, &type, &payload, &len);
        if (got < 0) {
            agent_log("malformed message from the host");
            rc = -1;
            break;
        }
        if (got == 0) {
            continue;
        }
        if (type != MVM_MSG_RUN) {
            /* A late RESIZE or SIGNAL of the run that just ended. */
            reader_drop(&reader);
            continue;
        }
        /* The RUN is copied out: the reader's buffer moves as the run's own messages arrive. */
        uint8_t *copy = malloc(len ? len : 1);
        if (!copy) {
            rc = -1;
            break;
        }
        memcpy(copy, payload, len);
        reader_drop(&reader);
        rc = serve_run(ports, sfd, &reader, copy, len);
        free(copy);
        if (rc == 0) {
            rc = send_ready(ports->control);
        }
    }
    reader_free(&reader);
    close(sfd);
    return rc;
}
