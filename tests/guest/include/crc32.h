/* CRC-32 (IEEE 802.3, reflected 0xEDB88320), compatible with zlib's crc32(). */
#ifndef GUEST_CRC32_H
#define GUEST_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* crc32_update(0, p, n) == zlib crc32(0, p, n); chainable like zlib's. */
uint32_t crc32_update(uint32_t crc, const void *p, size_t n);

#endif
