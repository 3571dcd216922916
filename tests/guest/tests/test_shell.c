/*
 * shell: an interactive prompt on COM1 for examples and library tests.  Prints `guest> `,
 * reads a line by polling the UART (echoing it; backspace/DEL erase; CR, LF or CR LF end
 * it; other control bytes are dropped; at most SHELL_LINE_MAX bytes are kept), then runs:
 *   echo TEXT     prints TEXT
 *   crc TEXT      prints crc32=XXXXXXXX (zlib CRC-32 of TEXT's bytes)
 *   exit N        ends the run with exit code N (0..255)
 * An empty line only prompts again; anything else prints `unknown command: LINE`.
 * Never exits on its own: the host ends the run (or sends `exit N`).
 */
#include "crc32.h"
#include "guest.h"
#include "io.h"

#define SHELL_LINE_MAX          256

static char line[SHELL_LINE_MAX + 1];

static void read_line(void)
{
    static bool after_cr;
    size_t n = 0;
    for (;;) {
        int c = console_getc();
        if (c < 0) {
            cpu_pause();
            continue;
        }
        bool was_cr = after_cr;
        after_cr = c == '\r';
        if (c == '\n' && was_cr)
            continue;
        if (c == '\r' || c == '\n') {
            console_write("\n", 1);
            line[n] = 0;
            return;
        }
        if (c == '\b' || c == 0x7f) {
            if (n) {
                n--;
                console_write("\b \b", 3);
            }
        } else if (c >= 0x20 && c < 0x7f && n < SHELL_LINE_MAX) {
            char ch = (char)c;
            line[n++] = ch;
            console_write(&ch, 1);
        }
    }
}

/* "cmd" or "cmd ARG": the argument, or NULL if line is not this command. */
static const char *command(const char *cmd)
{
    size_t n = strlen(cmd);
    if (strncmp(line, cmd, n) != 0)
        return NULL;
    if (line[n] == 0)
        return line + n;
    return line[n] == ' ' ? line + n + 1 : NULL;
}

static int test_shell(const struct boot_info *bi)
{
    (void)bi;
    for (;;) {
        console_write("guest> ", 7);
        read_line();
        const char *arg;
        if (line[0] == 0)
            continue;
        if ((arg = command("echo")) != NULL) {
            puts(arg);
        } else if ((arg = command("crc")) != NULL) {
            printf("crc32=%08x\n", crc32_update(0, arg, strlen(arg)));
        } else if ((arg = command("exit")) != NULL) {
            uint64_t code;
            if (parse_u64(arg, NULL, &code) && code <= 255)
                return (int)code;
            puts("exit: need N in 0..255");
        } else {
            printf("unknown command: %s\n", line);
        }
    }
}

GUEST_TEST(shell, "shell", test_shell);
