/*
 * Console on the 8250 UART at COM1.  Each byte waits for THR empty (LSR bit 5,
 * bounded so a missing UART cannot hang the guest); '\n' becomes "\r\n".
 * Input is polled (LSR bit 0), never interrupt-driven.
 * One spinlock serialises whole printf calls between CPUs.
 */
#include "io.h"
#include "lib.h"

#define COM1            0x3f8
#define UART_LSR        5
#define UART_LSR_DR     0x01
#define UART_LSR_THRE   0x20

static struct spinlock console_lock;

static void uart_put(char c)
{
    for (unsigned i = 0; i < 100000 && !(inb(COM1 + UART_LSR) & UART_LSR_THRE); i++)
        cpu_pause();
    outb(COM1, (uint8_t)c);
}

static void console_put(void *ctx, char c)
{
    (void)ctx;
    if (c == '\n')
        uart_put('\r');
    uart_put(c);
}

void console_write(const char *s, size_t n)
{
    spin_lock(&console_lock);
    for (size_t i = 0; i < n; i++)
        console_put(NULL, s[i]);
    spin_unlock(&console_lock);
}

int vprintf(const char *fmt, va_list ap)
{
    spin_lock(&console_lock);
    int n = vformat(console_put, NULL, fmt, ap);
    spin_unlock(&console_lock);
    return n;
}

int printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}

int puts(const char *s)
{
    spin_lock(&console_lock);
    while (*s)
        console_put(NULL, *s++);
    console_put(NULL, '\n');
    spin_unlock(&console_lock);
    return 0;
}

int console_getc(void)
{
    if (!(inb(COM1 + UART_LSR) & UART_LSR_DR))
        return -1;
    return inb(COM1);
}
