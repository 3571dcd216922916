/* The guest's libc subset: strings, formatted console output, a spinlock. */
#ifndef GUEST_LIB_H
#define GUEST_LIB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);

/* Formatter: %[-0+ #][width][.prec][hh|h|l|ll|z|j|t](d i u x X o c s p %). */
typedef void (*format_sink)(void *ctx, char c);
int vformat(format_sink sink, void *ctx, const char *fmt, va_list ap);
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) PRINTF_LIKE(3, 4);

/* COM1 console; printf/puts hold the console lock for the whole line(s). */
int printf(const char *fmt, ...) PRINTF_LIKE(1, 2);
int vprintf(const char *fmt, va_list ap);
int puts(const char *s); /* appends "\n" */
void console_write(const char *s, size_t n);
/* One received byte from COM1, or -1 if none is waiting (no wait, no lock). */
int console_getc(void);

struct spinlock {
    uint32_t locked;
};
static inline void spin_lock(struct spinlock *l)
{
    while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED))
            __asm__ volatile("pause");
}
static inline void spin_unlock(struct spinlock *l) { __atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE); }

/* Numbers: decimal or 0x-prefixed hex; false on junk or overflow. */
bool parse_u64(const char *s, const char **end, uint64_t *out);
/* parse_u64 with an optional K/M/G/T suffix (binary units), like Linux's memparse(). */
bool parse_size(const char *s, const char **end, uint64_t *out);

static inline uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }
static inline uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

#endif
