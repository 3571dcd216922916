/* A small printf formatter for the guest (no floating point). */
#include "lib.h"

struct spec {
    bool left, zero, plus, space, alt;
    int width;
    int prec; /* -1: none */
};

struct out {
    format_sink sink;
    void *ctx;
    int count;
};

static void emit(struct out *o, char c)
{
    o->sink(o->ctx, c);
    o->count++;
}

static void emit_pad(struct out *o, char c, int n)
{
    while (n-- > 0)
        emit(o, c);
}

static void emit_string(struct out *o, const struct spec *sp, const char *s)
{
    if (!s)
        s = "(null)";
    size_t len = sp->prec >= 0 ? strnlen(s, (size_t)sp->prec) : strlen(s);
    int pad = sp->width > (int)len ? sp->width - (int)len : 0;
    if (!sp->left)
        emit_pad(o, ' ', pad);
    for (size_t i = 0; i < len; i++)
        emit(o, s[i]);
    if (sp->left)
        emit_pad(o, ' ', pad);
}

static void emit_number(struct out *o, const struct spec *sp, uint64_t v, unsigned base, bool upper,
                        bool negative, const char *prefix)
{
    const char *digit_chars = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char digits[24];
    int n = 0;
    do {
        digits[n++] = digit_chars[v % base];
        v /= base;
    } while (v);
    if (sp->prec == 0 && n == 1 && digits[0] == '0')
        n = 0;

    char sign = negative ? '-' : sp->plus ? '+' : sp->space ? ' ' : 0;
    int prefix_len = (int)strlen(prefix) + (sign ? 1 : 0);
    int zeros = sp->prec > n ? sp->prec - n : 0;
    int body = prefix_len + zeros + n;
    int pad = sp->width > body ? sp->width - body : 0;
    if (sp->zero && !sp->left && sp->prec < 0) {
        zeros += pad;
        pad = 0;
    }
    if (!sp->left)
        emit_pad(o, ' ', pad);
    if (sign)
        emit(o, sign);
    for (const char *p = prefix; *p; p++)
        emit(o, *p);
    emit_pad(o, '0', zeros);
    while (n)
        emit(o, digits[--n]);
    if (sp->left)
        emit_pad(o, ' ', pad);
}

int vformat(format_sink sink, void *ctx, const char *fmt, va_list ap)
{
    struct out o = {sink, ctx, 0};
    while (*fmt) {
        if (*fmt != '%') {
            emit(&o, *fmt++);
            continue;
        }
        fmt++;
        struct spec sp = {false, false, false, false, false, 0, -1};
        for (;; fmt++) {
            if (*fmt == '-')
                sp.left = true;
            else if (*fmt == '0')
                sp.zero = true;
            else if (*fmt == '+')
                sp.plus = true;
            else if (*fmt == ' ')
                sp.space = true;
            else if (*fmt == '#')
                sp.alt = true;
            else
                break;
        }
        if (*fmt == '*') {
            sp.width = va_arg(ap, int);
            if (sp.width < 0) {
                sp.left = true;
                sp.width = -sp.width;
            }
            fmt++;
        } else {
            while (*fmt >= '0' && *fmt <= '9')
                sp.width = sp.width * 10 + (*fmt++ - '0');
        }
        if (*fmt == '.') {
            fmt++;
            sp.prec = 0;
            if (*fmt == '*') {
                sp.prec = va_arg(ap, int);
                fmt++;
            } else {
                while (*fmt >= '0' && *fmt <= '9')
                    sp.prec = sp.prec * 10 + (*fmt++ - '0');
            }
        }
        int size = 0; /* -2 hh, -1 h, 0 int, 1 long, 2 long long */
        if (*fmt == 'h') {
            size = -1;
            if (*++fmt == 'h') {
                size = -2;
                fmt++;
            }
        } else if (*fmt == 'l') {
            size = 1;
            if (*++fmt == 'l') {
                size = 2;
                fmt++;
            }
        } else if (*fmt == 'z' || *fmt == 'j' || *fmt == 't') {
            size = 1;
            fmt++;
        }

        char conv = *fmt;
        if (!conv)
            break;
        fmt++;
        switch (conv) {
        case 'd':
        case 'i': {
            int64_t v = size >= 1 ? va_arg(ap, long) : va_arg(ap, int);
            if (size == -1)
                v = (short)v;
            else if (size == -2)
                v = (signed char)v;
            uint64_t mag = v < 0 ? -(uint64_t)v : (uint64_t)v;
            emit_number(&o, &sp, mag, 10, false, v < 0, "");
            break;
        }
        case 'u':
        case 'x':
        case 'X':
        case 'o': {
            uint64_t v = size >= 1 ? va_arg(ap, unsigned long) : va_arg(ap, unsigned int);
            if (size == -1)
                v = (unsigned short)v;
            else if (size == -2)
                v = (unsigned char)v;
            unsigned base = conv == 'u' ? 10 : conv == 'o' ? 8 : 16;
            const char *prefix = "";
            if (sp.alt && v && base == 16)
                prefix = conv == 'X' ? "0X" : "0x";
            else if (sp.alt && base == 8)
                prefix = "0";
            emit_number(&o, &sp, v, base, conv == 'X', false, prefix);
            break;
        }
        case 'p': {
            struct spec ps = sp;
            ps.prec = 16;
            emit_number(&o, &ps, (uint64_t)(uintptr_t)va_arg(ap, void *), 16, false, false, "0x");
            break;
        }
        case 'c': {
            char c = (char)va_arg(ap, int);
            char s[2] = {c, 0};
            struct spec cs = sp;
            cs.prec = 1;
            emit_string(&o, &cs, s);
            break;
        }
        case 's':
            emit_string(&o, &sp, va_arg(ap, const char *));
            break;
        case '%':
            emit(&o, '%');
            break;
        default: /* unknown conversion: print it verbatim */
            emit(&o, '%');
            emit(&o, conv);
            break;
        }
    }
    return o.count;
}

struct buf_sink {
    char *buf;
    size_t size, pos;
};

static void buf_put(void *ctx, char c)
{
    struct buf_sink *b = ctx;
    if (b->pos + 1 < b->size)
        b->buf[b->pos] = c;
    b->pos++;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct buf_sink b = {buf, size, 0};
    int n = vformat(buf_put, &b, fmt, ap);
    if (size)
        buf[b.pos < size ? b.pos : size - 1] = 0;
    return n;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}
