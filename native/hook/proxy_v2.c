/* Builds the PROXY protocol v2 header the hook writes before any application byte (see proxy_v2.h). */
#include "proxy_v2.h"

#include <string.h>

static const uint8_t kSignature[SL_PP2_SIGNATURE_LEN] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                         0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

static uint8_t *put_u16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
  return p + 2;
}

static uint8_t *put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
  return p + 4;
}

/* 16-byte form of an endpoint: v6 as is, v4 as ::ffff:a.b.c.d. */
static uint8_t *put_addr16(uint8_t *p, const struct sl_endpoint *e) {
  if (e->family == 6) {
    memcpy(p, e->addr, 16);
  } else {
    memset(p, 0, 10);
    p[10] = 0xFF;
    p[11] = 0xFF;
    memcpy(p + 12, e->addr, 4);
  }
  return p + 16;
}

static uint8_t *put_tlv(uint8_t *p, uint8_t type, const uint8_t *value, uint16_t len) {
  *p++ = type;
  p = put_u16(p, len);
  memcpy(p, value, len);
  return p + len;
}

size_t sl_pp2_build(uint8_t *out, const struct sl_endpoint *src, const struct sl_endpoint *dst, uint32_t pid,
                    uint32_t uid, const char *comm, size_t comm_len) {
  uint8_t *p = out;
  memcpy(p, kSignature, sizeof kSignature);
  p += sizeof kSignature;
  const int v4 = src->family == 4 && dst->family == 4;
  *p++ = SL_PP2_VERSION | SL_PP2_CMD_PROXY;
  *p++ = v4 ? SL_PP2_FAM_TCP4 : SL_PP2_FAM_TCP6;
  uint8_t *len_at = p;
  p += 2;
  if (v4) {
    memcpy(p, src->addr, 4);
    memcpy(p + 4, dst->addr, 4);
    p += 8;
  } else {
    p = put_addr16(p, src);
    p = put_addr16(p, dst);
  }
  p = put_u16(p, src->port);
  p = put_u16(p, dst->port);

  uint8_t u32[4];
  put_u32(u32, pid);
  p = put_tlv(p, SL_PP2_TYPE_SIDELANE_PID, u32, 4);
  put_u32(u32, uid);
  p = put_tlv(p, SL_PP2_TYPE_SIDELANE_UID, u32, 4);
  if (comm_len > SL_PP2_COMM_MAX) comm_len = SL_PP2_COMM_MAX;
  if (comm_len > 0) p = put_tlv(p, SL_PP2_TYPE_SIDELANE_COMM, (const uint8_t *)comm, (uint16_t)comm_len);

  put_u16(len_at, (uint16_t)(p - out - SL_PP2_FIXED_LEN));
  return (size_t)(p - out);
}
