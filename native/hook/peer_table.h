/*
 * The original destination of every hooked socket, indexed by fd and validated by SO_COOKIE, so getpeername() can
 * answer transparently and a reused fd number never gets a stale answer. Preallocated once (mmap, pages touched
 * lazily); each slot is a seqlock whose writers only try-lock, so it is lock-free, async-signal-safe and never
 * allocates on the connect path.
 */
#ifndef SIDELANE_PEER_TABLE_H
#define SIDELANE_PEER_TABLE_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

/* Reserves slots for fds [0, min(RLIMIT_NOFILE hard limit, 1 << 20)). Constructor only. */
void sl_peer_table_init(void);

/* Records (cookie, original destination as the app's sockaddr) for fd; gives up silently if the slot is busy. */
void sl_peer_table_put(int fd, uint64_t cookie, const struct sockaddr *addr, socklen_t len);

/* Forgets fd's entry (the socket behind it is being connected elsewhere or disconnected). */
void sl_peer_table_clear(int fd);

/* 1 if fd has any entry at all (one relaxed load: the getpeername fast path). */
int sl_peer_table_maybe(int fd);

/* Copies the entry into out/len when its cookie equals cookie; returns 1 on a hit, 0 otherwise. */
int sl_peer_table_get(int fd, uint64_t cookie, struct sockaddr_in6 *out, socklen_t *len);

#endif
