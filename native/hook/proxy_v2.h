/*
 * PROXY protocol v2 (haproxy doc/proxy-protocol.txt, section 2.2) as the hook writes it: one header with command
 * PROXY, TCP4 or TCP6, the app socket's local address as source, the original destination as destination, and
 * sidelane's caller-identity TLVs from the custom range 0xE0-0xEF. src/transport/proxy-protocol.ts decodes it;
 * test/unit/transport/proxy-protocol-constants.test.ts checks that the constants below agree with the TypeScript ones.
 */
#ifndef SIDELANE_PROXY_V2_H
#define SIDELANE_PROXY_V2_H

#include <stddef.h>
#include <stdint.h>

#define SL_PP2_SIGNATURE_LEN 12
#define SL_PP2_FIXED_LEN 16
#define SL_PP2_VERSION 0x20
#define SL_PP2_CMD_LOCAL 0x00
#define SL_PP2_CMD_PROXY 0x01
#define SL_PP2_FAM_TCP4 0x11
#define SL_PP2_FAM_TCP6 0x21
#define SL_PP2_ADDR_LEN_TCP4 12
#define SL_PP2_ADDR_LEN_TCP6 36

/* TLV types (3-byte TLV header: type, length big-endian). */
#define SL_PP2_TYPE_CRC32C 0x03
#define SL_PP2_TYPE_NOOP 0x04
/* sidelane's caller identity, custom range (PP2_TYPE_MIN_CUSTOM 0xE0 .. PP2_TYPE_MAX_CUSTOM 0xEF). */
#define SL_PP2_TYPE_SIDELANE_PID 0xE0  /* u32 big-endian: the connecting process id */
#define SL_PP2_TYPE_SIDELANE_UID 0xE1  /* u32 big-endian: its effective uid */
#define SL_PP2_TYPE_SIDELANE_COMM 0xE2 /* 1-16 bytes, no NUL: its process name (comm) */
#define SL_PP2_COMM_MAX 16

/* 16 fixed + 36 TCP6 addresses + pid (3+4) + uid (3+4) + comm (3+16). */
#define SL_PP2_MAX_HEADER (SL_PP2_FIXED_LEN + SL_PP2_ADDR_LEN_TCP6 + 7 + 7 + 3 + SL_PP2_COMM_MAX)

/* One end of a TCP connection in network byte order; family 4 or 6 (v4 never appears v4-mapped here). */
struct sl_endpoint {
  uint8_t family;
  uint8_t addr[16]; /* v4: first 4 bytes */
  uint16_t port;    /* host order */
};

/*
 * Writes the header into out (at least SL_PP2_MAX_HEADER bytes) and returns its length. When src and dst are both
 * v4 the header is TCP4; otherwise TCP6 and a v4 end is written v4-mapped. Pure: no system calls, no allocation.
 */
size_t sl_pp2_build(uint8_t *out, const struct sl_endpoint *src, const struct sl_endpoint *dst, uint32_t pid,
                    uint32_t uid, const char *comm, size_t comm_len);

#endif
