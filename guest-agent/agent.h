/* minivmm's guest agent: the /init of `minivmm exec` (init.c) and the session it serves over
 * the ports of src/agent/agent_wire.h (session.c, spawn.c, wire.c). A static C program with
 * no dependency but the C library: the guest has nothing else until the root is mounted. */
#ifndef MINIVMM_AGENT_H
#define MINIVMM_AGENT_H

#include "agent_wire.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* log.c: lines go to /dev/kmsg in the guest (the console), to stderr elsewhere. */
/* Reads at most size - 1 bytes of a small file (a sysfs attribute) into buf, NUL-terminated;
 * returns the bytes read, or -1 when it cannot be opened. */
ssize_t read_small_file(const char *path, char *buf, size_t size);

void agent_log_to(int fd, int kmsg);
void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* wire.c: the control port. */
struct msg_reader {
    uint8_t *buf;
    size_t len;
    size_t cap;
};
/* Reads what the fd has (non-blocking). 0: fine (maybe nothing new); -1: end of file or error. */
int reader_fill(struct msg_reader *r, int fd);
/* 1: a whole message is at the front (type, payload, length set); 0: not yet; -1: malformed. */
int reader_peek(const struct msg_reader *r, uint32_t *type, const uint8_t **payload, uint32_t *len);
void reader_drop(struct msg_reader *r);
void reader_free(struct msg_reader *r);
/* Writes a whole message to the (non-blocking) fd, waiting for room. 0 or -1. */
int send_message(int fd, uint32_t type, const void *payload, uint32_t len);
int send_ready(int fd);
int send_failed(int fd, const char *text);

struct run_spec {
    uint32_t flags;
    uint32_t uid;
    uint32_t gid;
    uint16_t rows;
    uint16_t cols;
    uint32_t n_groups;
    uint32_t *groups;
    char *cwd;
    char **argv; /* NULL-terminated */
    char **env;  /* NULL-terminated */
};
/* 0 and a filled spec, or -1 when the payload is malformed. */
int decode_run(const uint8_t *payload, uint32_t len, struct run_spec *spec);
void free_run_spec(struct run_spec *spec);
uint32_t get_u32(const uint8_t *p);
uint64_t get_u64(const uint8_t *p);

/* spawn.c: the command's process. */
struct child {
    pid_t pid;
    int in;     /* its stdin: a pipe's write end, or the pty master */
    int out;    /* its stdout: a pipe's read end, or the pty master (a second descriptor) */
    int err;    /* its stderr: a pipe's read end; -1 with a pty */
    int master; /* the pty master (== in) or -1 */
};
/* Starts the command. 0, or -1 with the reason in `why` (a directory, user or group that
 * could not be set: the command never ran). A command that cannot be executed still starts:
 * its process prints why on its stderr and exits 127 (not found) or 126, as a shell would. */
int spawn_command(const struct run_spec *spec, struct child *child, char *why, size_t why_len);

/* net.c: a NIC of a user-mode network, from agent.conf's "net MAC ADDRESS/PREFIX GATEWAY|- DNS|-"
 * (addresses in network byte order). */
struct net_nic {
    unsigned char mac[6];
    uint32_t address;
    uint32_t netmask;
    uint32_t gateway;
    uint32_t dns;
    int has_gateway;
    int has_dns;
};
/* 0, or -1 with the reason in `why`. */
int net_parse(const char *text, struct net_nic *nic, char *why, size_t why_len);
/* Address, netmask, up, and the default route through its gateway. 0, or -1 with `why`. */
int net_configure(const struct net_nic *nic, char *why, size_t why_len);
/* Writes the initramfs's resolv.conf naming `servers` and returns an O_PATH descriptor of it
 * (-1 on failure), for net_finish_root once the new root is /. */
int net_write_resolv_conf(const uint32_t *servers, int n);
void net_finish_root(int resolv_fd);

/* session.c */
struct agent_ports {
    int control;
    int in;
    int out;
    int err;
};
/* Sends READY, then serves RUNs until the host closes the control port (0) or the protocol
 * breaks (-1). SIGCHLD must be blocked: the session takes it through a signalfd, and reaps
 * every child (it may be PID 1). */
int agent_serve(const struct agent_ports *ports);

#endif
