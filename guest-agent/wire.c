#include "agent.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t get_u64(const uint8_t *p) { return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; ++i) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

int reader_fill(struct msg_reader *r, int fd)
{
    for (;;) {
        if (r->cap - r->len < 65536) {
            size_t cap = r->cap ? r->cap * 2 : 131072;
            /* Never more than one whole message plus one read of slack. */
            if (cap > MVM_HEADER_SIZE + MVM_MAX_TO_GUEST + 131072) {
                cap = MVM_HEADER_SIZE + MVM_MAX_TO_GUEST + 131072;
            }
            if (cap <= r->cap) {
                return 0; /* full: the message at the front must be taken first */
            }
            uint8_t *grown = realloc(r->buf, cap);
            if (!grown) {
                return -1;
            }
            r->buf = grown;
            r->cap = cap;
        }
        ssize_t n = read(fd, r->buf + r->len, r->cap - r->len);
        if (n > 0) {
            r->len += (size_t)n;
            continue;
        }
        if (n == 0) {
            return -1;
        }
        if (errno == EINTR) {
            continue;
        }
        return errno == EAGAIN ? 0 : -1;
    }
}

int reader_peek(const struct msg_reader *r, uint32_t *type, const uint8_t **payload, uint32_t *len)
{
    if (r->len < MVM_HEADER_SIZE) {
        return 0;
    }
    uint32_t length = get_u32(r->buf + 4);
    if (length > MVM_MAX_TO_GUEST) {
        return -1;
    }
    if (r->len - MVM_HEADER_SIZE < length) {
        return 0;
    }
    *type = get_u32(r->buf);
    *payload = r->buf + MVM_HEADER_SIZE;
    *len = length;
    return 1;
}

void reader_drop(struct msg_reader *r)
{
    size_t whole = MVM_HEADER_SIZE + get_u32(r->buf + 4);
    memmove(r->buf, r->buf + whole, r->len - whole);
    r->len -= whole;
}

void reader_free(struct msg_reader *r)
{
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
                return -1;
            }
            continue;
        }
        return -1;
    }
    return 0;
}

int send_message(int fd, uint32_t type, const void *payload, uint32_t len)
{
    uint8_t header[MVM_HEADER_SIZE];
    put_u32(header, type);
    put_u32(header + 4, len);
    if (write_all(fd, header, sizeof(header)) != 0) {
        return -1;
    }
    return len ? write_all(fd, payload, len) : 0;
}

int send_ready(int fd)
{
    uint8_t version[4];
    put_u32(version, MVM_PROTOCOL_VERSION);
    return send_message(fd, MVM_MSG_READY, version, sizeof(version));
}

int send_failed(int fd, const char *text)
{
    size_t len = strnlen(text, MVM_MAX_FAILED_TEXT);
    return send_message(fd, MVM_MSG_FAILED, text, (uint32_t)len);
}

/* A cursor over a RUN payload. */
struct cursor {
    const uint8_t *p;
    uint32_t left;
};

static int take_u32(struct cursor *c, uint32_t *v)
{
    if (c->left < 4) {
        return -1;
    }
    *v = get_u32(c->p);
    c->p += 4;
    c->left -= 4;
    return 0;
}

static int take_string(struct cursor *c, char **out)
{
    uint32_t len;
    if (take_u32(c, &len) != 0 || len > c->left || memchr(c->p, 0, len) != NULL) {
        return -1;
    }
    *out = malloc((size_t)len + 1);
    if (!*out) {
        return -1;
    }
    memcpy(*out, c->p, len);
    (*out)[len] = 0;
    c->p += len;
    c->left -= len;
    return 0;
}

static int take_strings(struct cursor *c, uint32_t count, char ***out)
{
    /* Each string takes at least four bytes: a count beyond that is malformed. */
    if (count > c->left / 4) {
        return -1;
    }
    *out = calloc((size_t)count + 1, sizeof(char *));
    if (!*out) {
        return -1;
    }
    for (uint32_t i = 0; i < count; ++i) {
        if (take_string(c, &(*out)[i]) != 0) {
            return -1;
        }
    }
    return 0;
}

int decode_run(const uint8_t *payload, uint32_t len, struct run_spec *spec)
{
    memset(spec, 0, sizeof(*spec));
    if (len < MVM_RUN_FIXED_SIZE) {
        return -1;
    }
    spec->flags = get_u32(payload);
    spec->uid = get_u32(payload + 4);
    spec->gid = get_u32(payload + 8);
    spec->rows = (uint16_t)(payload[12] | payload[13] << 8);
    spec->cols = (uint16_t)(payload[14] | payload[15] << 8);
    spec->n_groups = get_u32(payload + 16);
    uint32_t argc = get_u32(payload + 20);
    uint32_t envc = get_u32(payload + 24);
    struct cursor c = {payload + MVM_RUN_FIXED_SIZE, len - MVM_RUN_FIXED_SIZE};
    if (spec->n_groups > MVM_MAX_GROUPS || spec->n_groups > c.left / 4 || argc == 0) {
        return -1;
    }
    spec->groups = calloc(spec->n_groups ? spec->n_groups : 1, sizeof(uint32_t));
    if (!spec->groups) {
        return -1;
    }
    for (uint32_t i = 0; i < spec->n_groups; ++i) {
        if (take_u32(&c, &spec->groups[i]) != 0) {
            return -1;
        }
    }
    if (take_string(&c, &spec->cwd) != 0 || take_strings(&c, argc, &spec->argv) != 0 ||
        take_strings(&c, envc, &spec->env) != 0 || c.left != 0 || spec->argv[0][0] == 0) {
        return -1;
    }
    return 0;
}

static void free_strings(char **v)
{
    if (v) {
        for (char **s = v; *s; ++s) {
            free(*s);
        }
        free(v);
    }
}

void free_run_spec(struct run_spec *spec)
{
    free(spec->groups);
    free(spec->cwd);
    free_strings(spec->argv);
    free_strings(spec->env);
    memset(spec, 0, sizeof(*spec));
}
