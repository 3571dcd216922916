/* Command line parser; grammar in include/cmdline.h. */
#include "cmdline.h"

#include "boot.h"
#include "lib.h"

static char words[BOOT_CMDLINE_MAX + 1];
static struct {
    const char *key, *value;
} args[CMDLINE_MAX_ARGS];
static unsigned nargs;

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

void cmdline_parse(const char *cmdline)
{
    size_t out = 0;
    const char *p = cmdline;
    nargs = 0;
    while (*p) {
        while (is_space(*p))
            p++;
        if (!*p)
            break;
        const char *key = &words[out];
        const char *value = NULL;
        bool quoted = false;
        for (; *p && (quoted || !is_space(*p)) && out < BOOT_CMDLINE_MAX - 1; p++) {
            if (*p == '"') {
                quoted = !quoted;
            } else if (*p == '=' && !value && !quoted) {
                words[out++] = 0;
                value = &words[out];
            } else {
                words[out++] = *p;
            }
        }
        words[out++] = 0;
        if (nargs < CMDLINE_MAX_ARGS) {
            args[nargs].key = key;
            args[nargs].value = value ? value : "";
            nargs++;
        }
        if (out >= BOOT_CMDLINE_MAX - 1)
            break;
    }
}

const char *cmdline_get(const char *key)
{
    for (unsigned i = nargs; i-- > 0;)
        if (strcmp(args[i].key, key) == 0)
            return args[i].value;
    return NULL;
}

int cmdline_get_u64(const char *key, uint64_t *out)
{
    const char *v = cmdline_get(key);
    if (!v)
        return -1;
    return parse_u64(v, NULL, out) ? 0 : -2;
}

unsigned cmdline_count(void) { return nargs; }

void cmdline_arg(unsigned i, const char **key, const char **value)
{
    *key = i < nargs ? args[i].key : NULL;
    *value = i < nargs ? args[i].value : NULL;
}
