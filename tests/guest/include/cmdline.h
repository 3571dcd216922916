/*
 * Command line: whitespace-separated words, each `key=value` or a bare `key`;
 * double quotes group a value containing spaces (`key="a b"`) and are removed.
 * The first '=' splits key and value.  The last occurrence of a key wins.
 */
#ifndef GUEST_CMDLINE_H
#define GUEST_CMDLINE_H

#include <stdbool.h>
#include <stdint.h>

#define CMDLINE_MAX_ARGS        128

void cmdline_parse(const char *cmdline);
/* The value of key, "" for a bare key, NULL if absent. */
const char *cmdline_get(const char *key);
/* 0 if present and a valid number, -1 if absent, -2 if malformed. */
int cmdline_get_u64(const char *key, uint64_t *out);
unsigned cmdline_count(void);
void cmdline_arg(unsigned i, const char **key, const char **value);

#endif
