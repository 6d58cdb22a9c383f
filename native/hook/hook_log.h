/*
 * One-line diagnostics on stderr, built by hand in a stack buffer and written with one write(2): usable from the
 * connect path and from signal handlers (no stdio, no malloc, no locale). Lines longer than the buffer are cut.
 */
#ifndef SIDELANE_HOOK_LOG_H
#define SIDELANE_HOOK_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "proxy_v2.h"

struct sl_line {
  char buf[320];
  size_t len;
};

/* Starts "sidelane-hook[<pid>]: ". */
void sl_line_begin(struct sl_line *l);
void sl_line_str(struct sl_line *l, const char *s);
void sl_line_u64(struct sl_line *l, uint64_t v);
void sl_line_i64(struct sl_line *l, int64_t v);
/* a.b.c.d:port or [v6]:port (RFC 5952 text). */
void sl_line_endpoint(struct sl_line *l, const struct sl_endpoint *e);
/* Appends '\n' and writes the line to fd 2, preserving errno. */
void sl_line_emit(struct sl_line *l);

/* The errno name (ECONNREFUSED …) for the errors the hook reports, else "errno". */
const char *sl_errno_name(int err);

#endif
