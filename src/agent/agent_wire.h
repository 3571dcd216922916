/* The wire protocol between minivmm and its guest agent (the /init of `minivmm exec`,
 * guest-agent/): included by both, so the two cannot disagree. C, for the agent.
 *
 * The agent talks to the host over four ports of one virtio-console device (virtio 1.2
 * section 5.3, VIRTIO_CONSOLE_F_MULTIPORT), found in the guest by name
 * (/sys/class/virtio-ports/vportNpM/name):
 *   minivmm.control   messages, both ways (below)
 *   minivmm.stdin     the command's stdin, host to guest: plain bytes
 *   minivmm.stdout    the command's stdout, guest to host: plain bytes
 *   minivmm.stderr    the command's stderr, guest to host: plain bytes (unused with a pty)
 * The byte streams carry no framing, so they are binary-safe; where one run's bytes end is
 * said by counts on the control port: STDIN_END gives the length of a run's stdin, EXIT the
 * lengths of its stdout and stderr. So no end of stream depends on the order in which the
 * host services the ports' queues.
 *
 * A message: a header {u32 type, u32 length} and `length` bytes of payload. Integers are
 * little-endian; a string is {u32 length, bytes} with no NUL in it.
 *
 * A session: the agent boots, then sends READY. The host sends RUN; the agent starts the
 * command and relays its stdio until the command has exited and its output pipes are empty,
 * then sends EXIT (or FAILED when the command could not be started: a bad directory, user
 * or group). The host answers EXIT or FAILED with STDIN_END (unless it sent it already, when
 * its stdin ended); the agent reads and drops what is left of that run's stdin, then sends
 * READY for the next RUN. FAILED before the first READY: the agent could not boot (a module,
 * a mount) and powers the guest off.
 */
#ifndef MINIVMM_AGENT_WIRE_H
#define MINIVMM_AGENT_WIRE_H

#include <stdint.h>

#define MVM_PORT_CONTROL "minivmm.control"
#define MVM_PORT_STDIN "minivmm.stdin"
#define MVM_PORT_STDOUT "minivmm.stdout"
#define MVM_PORT_STDERR "minivmm.stderr"

#define MVM_PROTOCOL_VERSION 1u
#define MVM_HEADER_SIZE 8u
/* Largest payloads: a RUN holds the whole argv and environment (Linux's own limit for both
 * together is 2 MiB by default); what the agent sends is small. */
#define MVM_MAX_TO_GUEST (8u << 20)
#define MVM_MAX_TO_HOST 4096u
#define MVM_MAX_FAILED_TEXT 1024u

enum mvm_message_type {
    /* agent -> host */
    MVM_MSG_READY = 1,  /* u32 protocol version */
    MVM_MSG_EXIT = 2,   /* u32 how (enum mvm_exit_how), u32 value, u64 stdout bytes, u64 stderr bytes */
    MVM_MSG_FAILED = 3, /* the reason, UTF-8 text of at most MVM_MAX_FAILED_TEXT bytes */
    /* host -> agent */
    MVM_MSG_RUN = 16,           /* struct mvm_run_fixed, u32 groups[n_groups], string cwd,
                                   string argv[argc], string env[envc] ("NAME=VALUE") */
    MVM_MSG_STDIN_END = 17,     /* u64 total: the run's stdin is that many bytes in all */
    MVM_MSG_RESIZE = 18,        /* u16 rows, u16 cols: the terminal's new size (pty runs) */
    MVM_MSG_SIGNAL = 19,        /* u32 signal number: for the command's process group */
    MVM_MSG_OUTPUT_CLOSED = 20, /* u32 stream (1 stdout, 2 stderr): the host's reader is gone */
};

enum mvm_exit_how {
    MVM_EXITED = 0, /* value: the exit status, 0-255 */
    MVM_KILLED = 1, /* value: the signal number */
};

#define MVM_RUN_TTY 1u /* flags: run the command on a pty of rows x cols */

/* The fixed part of a RUN payload; all fields little-endian u32/u16. */
struct mvm_run_fixed {
    uint32_t flags;
    uint32_t uid;
    uint32_t gid;
    uint16_t rows;
    uint16_t cols;
    uint32_t n_groups;
    uint32_t argc;
    uint32_t envc;
};
#define MVM_RUN_FIXED_SIZE 28u
#define MVM_MAX_GROUPS 65536u

#define MVM_EXIT_PAYLOAD_SIZE 24u

#endif
