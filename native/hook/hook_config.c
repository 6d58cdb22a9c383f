/* Parses the SIDELANE_* environment into struct sl_config (see hook_config.h for the rules). */
#include "hook_config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies [begin, end) trimmed of blanks into buf; returns its length, or -1 when it does not fit. */
static int trimmed(const char *begin, const char *end, char *buf, size_t buflen) {
  while (begin < end && (*begin == ' ' || *begin == '\t')) begin++;
  while (end > begin && (end[-1] == ' ' || end[-1] == '\t')) end--;
  size_t n = (size_t)(end - begin);
  if (n + 1 > buflen) return -1;
  memcpy(buf, begin, n);
  buf[n] = '\0';
  return (int)n;
}

/* Strict decimal: digits only, value <= max. */
static int parse_uint(const char *s, unsigned long max, unsigned long *out) {
  if (*s == '\0') return -1;
  unsigned long v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return -1;
    v = v * 10 + (unsigned long)(*s - '0');
    if (v > max) return -1;
  }
  *out = v;
  return 0;
}

static int parse_port_item(const char *item, unsigned long *lo, unsigned long *hi) {
  char buf[32];
  const char *dash = strchr(item, '-');
  if (dash == NULL) {
    if (parse_uint(item, 65535, lo) != 0 || *lo == 0) return -1;
    *hi = *lo;
    return 0;
  }
  if (trimmed(item, dash, buf, sizeof buf) < 0 || parse_uint(buf, 65535, lo) != 0 || *lo == 0) return -1;
  if (trimmed(dash + 1, dash + strlen(dash), buf, sizeof buf) < 0 || parse_uint(buf, 65535, hi) != 0) return -1;
  return *hi >= *lo ? 0 : -1;
}

static int parse_cidr_item(const char *item, struct sl_cidr *out) {
  char addr[64];
  const char *slash = strchr(item, '/');
  const char *addr_end = slash ? slash : item + strlen(item);
  if (trimmed(item, addr_end, addr, sizeof addr) <= 0) return -1;
  memset(out, 0, sizeof *out);
  unsigned long prefix;
  if (inet_pton(AF_INET, addr, out->addr) == 1) {
    out->family = 4;
    prefix = 32;
  } else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
    out->family = 6;
    prefix = 128;
  } else {
    return -1;
  }
  if (slash != NULL) {
    char pbuf[8];
    if (trimmed(slash + 1, slash + strlen(slash), pbuf, sizeof pbuf) <= 0) return -1;
    if (parse_uint(pbuf, out->family == 4 ? 32 : 128, &prefix) != 0) return -1;
  }
  /* ::ffff:a.b.c.d/n with n >= 96 means a v4 range; destinations are matched unmapped, so store it as v4. */
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  if (out->family == 6 && prefix >= 96 && memcmp(out->addr, mapped, 12) == 0) {
    memmove(out->addr, out->addr + 12, 4);
    memset(out->addr + 4, 0, 12);
    out->family = 4;
    prefix -= 96;
  }
  out->prefix = (uint8_t)prefix;
  size_t bytes = out->family == 4 ? 4 : 16;
  for (size_t i = 0; i < bytes; i++) {
    size_t bit = i * 8;
    if (bit >= prefix) {
      out->addr[i] = 0;
    } else if (prefix - bit < 8) {
      out->addr[i] &= (uint8_t)(0xFF << (8 - (prefix - bit)));
    }
  }
  return 0;
}

typedef int (*item_fn)(const char *item, void *ctx);

/* Calls fn for every non-empty comma-separated item; stops at the first failure and names it in bad. */
static int for_each_item(const char *list, item_fn fn, void *ctx, char *bad, size_t badlen) {
  const char *p = list;
  for (;;) {
    const char *comma = strchr(p, ',');
    const char *end = comma ? comma : p + strlen(p);
    char item[80];
    int n = trimmed(p, end, item, sizeof item);
    if (n < 0) {
      snprintf(bad, badlen, "%.*s", (int)(end - p), p);
      return -1;
    }
    if (n > 0 && fn(item, ctx) != 0) {
      snprintf(bad, badlen, "%s", item);
      return -1;
    }
    if (comma == NULL) return 0;
    p = comma + 1;
  }
}

static int add_ports(const char *item, void *ctx) {
  uint8_t *bitmap = ctx;
  unsigned long lo, hi;
  if (parse_port_item(item, &lo, &hi) != 0) return -1;
  for (unsigned long port = lo; port <= hi; port++) bitmap[port >> 3] |= (uint8_t)(1u << (port & 7));
  return 0;
}

struct cidr_list {
  struct sl_cidr *items;
  size_t *n;
};

static int add_cidr(const char *item, void *ctx) {
  struct cidr_list *list = ctx;
  if (*list->n >= SL_MAX_CIDRS) return -1;
  if (parse_cidr_item(item, &list->items[*list->n]) != 0) return -1;
  (*list->n)++;
  return 0;
}

static int flag_set(const char *v) { return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0; }

static int fail(struct sl_config *cfg, char *err, size_t errlen, const char *var, const char *bad, const char *expected) {
  snprintf(err, errlen, "%s: bad value \"%s\" (expected %s)", var, bad, expected);
  cfg->inert = 1;
  return -1;
}

int sl_config_load(struct sl_config *cfg, char *err, size_t errlen) {
  memset(cfg, 0, sizeof *cfg);
  cfg->outbound_port = SL_DEFAULT_OUTBOUND_PORT;
  cfg->down_policy = SL_DOWN_WAIT;
  cfg->down_wait_ms = SL_DEFAULT_WAIT_MS;
  cfg->include_all = 1;
  cfg->log = flag_set(getenv("SIDELANE_HOOK_LOG"));
  char bad[96];
  const char *v;

  if ((v = getenv("SIDELANE_OUTBOUND_PORT")) != NULL && v[0] != '\0') {
    char buf[16];
    unsigned long port;
    if (trimmed(v, v + strlen(v), buf, sizeof buf) < 0 || parse_uint(buf, 65535, &port) != 0 || port == 0)
      return fail(cfg, err, errlen, "SIDELANE_OUTBOUND_PORT", v, "a port 1-65535");
    cfg->outbound_port = (uint16_t)port;
  }

  v = getenv("SIDELANE_PROXY_PORTS");
  if (v == NULL) v = SL_DEFAULT_PROXY_PORTS;
  if (for_each_item(v, add_ports, cfg->never_ports, bad, sizeof bad) != 0)
    return fail(cfg, err, errlen, "SIDELANE_PROXY_PORTS", bad, "comma-separated ports or ranges like 15000,15090-15091");
  cfg->never_ports[cfg->outbound_port >> 3] |= (uint8_t)(1u << (cfg->outbound_port & 7));

  if ((v = getenv("SIDELANE_EXCLUDE_PORTS")) != NULL &&
      for_each_item(v, add_ports, cfg->exclude_ports, bad, sizeof bad) != 0)
    return fail(cfg, err, errlen, "SIDELANE_EXCLUDE_PORTS", bad, "comma-separated ports or ranges like 22,8000-8100");

  if ((v = getenv("SIDELANE_EXCLUDE_CIDRS")) != NULL) {
    struct cidr_list list = {cfg->exclude, &cfg->n_exclude};
    if (for_each_item(v, add_cidr, &list, bad, sizeof bad) != 0)
      return fail(cfg, err, errlen, "SIDELANE_EXCLUDE_CIDRS", bad, "at most 64 comma-separated CIDRs like 10.0.0.0/8,fd00::/8");
  }

  if ((v = getenv("SIDELANE_INCLUDE_CIDRS")) != NULL) {
    char buf[8];
    if (trimmed(v, v + strlen(v), buf, sizeof buf) >= 0 && (buf[0] == '\0' || strcmp(buf, "*") == 0)) {
      cfg->include_all = 1;
    } else {
      struct cidr_list list = {cfg->include, &cfg->n_include};
      if (for_each_item(v, add_cidr, &list, bad, sizeof bad) != 0)
        return fail(cfg, err, errlen, "SIDELANE_INCLUDE_CIDRS", bad, "\"*\" or at most 64 comma-separated CIDRs");
      cfg->include_all = cfg->n_include == 0;
    }
  }

  if ((v = getenv("SIDELANE_HOOK_ON_PROXY_DOWN")) != NULL && v[0] != '\0') {
    char buf[32];
    unsigned long ms;
    if (trimmed(v, v + strlen(v), buf, sizeof buf) < 0) {
      return fail(cfg, err, errlen, "SIDELANE_HOOK_ON_PROXY_DOWN", v, "wait:<ms>, open or closed");
    } else if (strcmp(buf, "open") == 0) {
      cfg->down_policy = SL_DOWN_OPEN;
    } else if (strcmp(buf, "closed") == 0) {
      cfg->down_policy = SL_DOWN_CLOSED;
    } else if (strcmp(buf, "wait") == 0) {
      cfg->down_policy = SL_DOWN_WAIT;
    } else if (strncmp(buf, "wait:", 5) == 0 && parse_uint(buf + 5, SL_MAX_WAIT_MS, &ms) == 0) {
      cfg->down_policy = SL_DOWN_WAIT;
      cfg->down_wait_ms = (uint32_t)ms;
    } else {
      return fail(cfg, err, errlen, "SIDELANE_HOOK_ON_PROXY_DOWN", v, "wait:<ms> (0-600000), open or closed");
    }
  }

  cfg->inert = flag_set(getenv("SIDELANE_DISABLE"));
  return 0;
}

int sl_cidr_match(const struct sl_cidr *list, size_t n, uint8_t family, const uint8_t *addr) {
  for (size_t i = 0; i < n; i++) {
    const struct sl_cidr *c = &list[i];
    if (c->family != family) continue;
    unsigned full = c->prefix / 8, rest = c->prefix % 8;
    if (memcmp(c->addr, addr, full) != 0) continue;
    if (rest != 0 && ((addr[full] ^ c->addr[full]) & (uint8_t)(0xFF << (8 - rest))) != 0) continue;
    return 1;
  }
  return 0;
}
