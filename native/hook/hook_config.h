/*
 * The hook's configuration: read once from SIDELANE_* environment variables in the constructor, immutable after.
 * Any invalid value makes the hook inert (it never guesses what a bad exclusion meant) and says so on stderr.
 * src/hook/environment.ts validates the same grammar for `sidelane exec`.
 */
#ifndef SIDELANE_HOOK_CONFIG_H
#define SIDELANE_HOOK_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define SL_MAX_CIDRS 64
#define SL_DEFAULT_OUTBOUND_PORT 15001
#define SL_DEFAULT_PROXY_PORTS "15000,15001,15006,15008,15020,15021,15090"
#define SL_DEFAULT_WAIT_MS 5000u
#define SL_MAX_WAIT_MS 600000u

enum sl_down_policy { SL_DOWN_WAIT = 0, SL_DOWN_OPEN = 1, SL_DOWN_CLOSED = 2 };

struct sl_cidr {
  uint8_t family; /* 4 or 6 */
  uint8_t prefix;
  uint8_t addr[16]; /* masked to the prefix */
};

struct sl_config {
  int inert; /* pass every call through untouched */
  int log;   /* SIDELANE_HOOK_LOG: one diagnostic line per decision */
  uint16_t outbound_port;
  enum sl_down_policy down_policy;
  uint32_t down_wait_ms;
  int include_all; /* SIDELANE_INCLUDE_CIDRS unset, empty or "*" */
  size_t n_include, n_exclude;
  struct sl_cidr include[SL_MAX_CIDRS];
  struct sl_cidr exclude[SL_MAX_CIDRS];
  uint8_t never_ports[65536 / 8];   /* SIDELANE_PROXY_PORTS plus the outbound port */
  uint8_t exclude_ports[65536 / 8]; /* SIDELANE_EXCLUDE_PORTS */
};

/*
 * Fills cfg from the environment. Returns 0, or -1 with a one-line reason in err (the variable, the bad value and
 * what was expected); cfg is then inert. Not async-signal-safe: constructor only.
 */
int sl_config_load(struct sl_config *cfg, char *err, size_t errlen);

static inline int sl_port_in(const uint8_t *bitmap, uint16_t port) {
  return (bitmap[port >> 3] >> (port & 7)) & 1;
}

/* addr: 4 or 16 bytes in network order, family 4 or 6. */
int sl_cidr_match(const struct sl_cidr *list, size_t n, uint8_t family, const uint8_t *addr);

#endif
