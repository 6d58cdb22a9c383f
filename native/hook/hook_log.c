/* Async-signal-safe diagnostic lines (see hook_log.h). */
#include "hook_log.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

static void put_char(struct sl_line *l, char c) {
  if (l->len < sizeof l->buf - 1) l->buf[l->len++] = c;
}

void sl_line_str(struct sl_line *l, const char *s) {
  while (*s) put_char(l, *s++);
}

void sl_line_u64(struct sl_line *l, uint64_t v) {
  char digits[20];
  int n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) put_char(l, digits[--n]);
}

void sl_line_i64(struct sl_line *l, int64_t v) {
  if (v < 0) {
    put_char(l, '-');
    sl_line_u64(l, (uint64_t)0 - (uint64_t)v);
  } else {
    sl_line_u64(l, (uint64_t)v);
  }
}

void sl_line_begin(struct sl_line *l) {
  l->len = 0;
  sl_line_str(l, "sidelane-hook[");
  sl_line_u64(l, (uint64_t)getpid());
  sl_line_str(l, "]: ");
}

static void put_hex16(struct sl_line *l, unsigned v) {
  static const char hex[] = "0123456789abcdef";
  int started = 0;
  for (int shift = 12; shift >= 0; shift -= 4) {
    unsigned d = (v >> shift) & 0xF;
    if (d != 0 || started || shift == 0) {
      put_char(l, hex[d]);
      started = 1;
    }
  }
}

/* RFC 5952: lowercase, leading zeros dropped, the longest run (>= 2) of zero groups as "::". */
static void put_v6(struct sl_line *l, const uint8_t *a) {
  unsigned g[8];
  for (int i = 0; i < 8; i++) g[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
  int best = -1, best_len = 0;
  for (int i = 0; i < 8;) {
    if (g[i] != 0) {
      i++;
      continue;
    }
    int j = i;
    while (j < 8 && g[j] == 0) j++;
    if (j - i > best_len && j - i >= 2) {
      best = i;
      best_len = j - i;
    }
    i = j;
  }
  for (int i = 0; i < 8; i++) {
    if (i == best) {
      sl_line_str(l, "::");
      i += best_len - 1;
      continue;
    }
    if (i > 0 && i != best + best_len) put_char(l, ':');
    put_hex16(l, g[i]);
  }
}

void sl_line_endpoint(struct sl_line *l, const struct sl_endpoint *e) {
  if (e->family == 4) {
    for (int i = 0; i < 4; i++) {
      if (i > 0) put_char(l, '.');
      sl_line_u64(l, e->addr[i]);
    }
  } else {
    put_char(l, '[');
    put_v6(l, e->addr);
    put_char(l, ']');
  }
  put_char(l, ':');
  sl_line_u64(l, e->port);
}

void sl_line_emit(struct sl_line *l) {
  int saved = errno;
  l->buf[l->len++] = '\n';
  /* The raw syscall: a preloaded write() wrapper of another tool must not see (or reenter on) our diagnostics. */
  ssize_t off = 0;
  while ((size_t)off < l->len) {
    ssize_t n = syscall(SYS_write, 2, l->buf + off, l->len - (size_t)off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += n;
  }
  errno = saved;
}

const char *sl_errno_name(int err) {
  switch (err) {
    case ECONNREFUSED: return "ECONNREFUSED";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ECONNRESET: return "ECONNRESET";
    case EPIPE: return "EPIPE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case ENETUNREACH: return "ENETUNREACH";
    case EINPROGRESS: return "EINPROGRESS";
    case EALREADY: return "EALREADY";
    case EISCONN: return "EISCONN";
    case EINTR: return "EINTR";
    case EAGAIN: return "EAGAIN";
    default: return "errno";
  }
}
