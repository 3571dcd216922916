#include "agent.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int log_fd = 2;
static int log_kmsg;

void agent_log_to(int fd, int kmsg)
{
    log_fd = fd;
    log_kmsg = kmsg;
}

void agent_log(const char *fmt, ...)
{
    char line[512];
    /* /dev/kmsg takes one record per write; "<3>" is its priority (KERN_ERR: shown even with
     * `quiet`, so a failure reaches --console-log). */
    int n = snprintf(line, sizeof(line), "%sminivmm-agent: ", log_kmsg ? "<3>" : "");
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(line)) {
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    }
    va_end(ap);
    size_t len = strnlen(line, sizeof(line) - 2);
    line[len++] = '\n';
    ssize_t ignored = write(log_fd, line, len);
    (void)ignored;
}
