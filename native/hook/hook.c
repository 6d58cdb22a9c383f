/*
 * libsidelane_hook.so (DESIGN 3.3): an LD_PRELOAD library that sends a process's outbound TCP connections to the
 * sidecar's outbound listener on a loopback address spread over 127.0.0.0/8, and tells the listener where each
 * connection was meant to go with one PROXY protocol v2 header written before connect() returns. It interposes
 * connect(), sendto()/sendmsg() (TCP Fast Open) and getpeername() (so the app still sees its real peer) — nothing
 * else is exported. Everything on these paths is async-signal-safe: system calls, atomics and the stack only.
 *
 * Semantics a caller sees (docs/hook.md has the reasoning):
 *  - blocking socket: connect() returns 0 once the loopback handshake is done and the header is written;
 *  - non-blocking socket: the hook completes the loopback handshake itself (microseconds, bounded), writes the
 *    header, then returns -1/EINPROGRESS like every non-blocking TCP connect on Linux; poll reports writable at
 *    once and SO_ERROR reads 0, and a repeated connect() answers 0 then EISCONN as the kernel would;
 *  - the hook never returns EINTR for its own waits: the loopback connect continues in the kernel, so it waits
 *    for it and writes the header (a half-set-up connection without a header would be refused by the proxy).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "hook_config.h"
#include "hook_log.h"
#include "peer_table.h"
#include "proxy_v2.h"

#define SL_EXPORT __attribute__((visibility("default")))
/* Bound on waiting for a loopback handshake / header write that the kernel did not finish at once. */
#define SL_LOOPBACK_WAIT_MS 5000
#define SL_BACKOFF_MAX_MS 50

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);
typedef ssize_t (*sendto_fn)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
typedef ssize_t (*sendmsg_fn)(int, const struct msghdr *, int);
typedef int (*getpeername_fn)(int, struct sockaddr *, socklen_t *);

/* Until the constructor has run (another library's constructor may connect first) calls go straight to the kernel. */
static int sys_connect(int fd, const struct sockaddr *a, socklen_t l) { return (int)syscall(SYS_connect, fd, a, l); }
static ssize_t sys_sendto(int fd, const void *b, size_t n, int f, const struct sockaddr *a, socklen_t l) {
  return syscall(SYS_sendto, fd, b, n, f, a, l);
}
static ssize_t sys_sendmsg(int fd, const struct msghdr *m, int f) { return syscall(SYS_sendmsg, fd, m, f); }
static int sys_getpeername(int fd, struct sockaddr *a, socklen_t *l) { return (int)syscall(SYS_getpeername, fd, a, l); }

static connect_fn real_connect = sys_connect;
static sendto_fn real_sendto = sys_sendto;
static sendmsg_fn real_sendmsg = sys_sendmsg;
static getpeername_fn real_getpeername = sys_getpeername;

static struct sl_config cfg; /* immutable once active */
static int active;           /* 0: inert, every call passes through */
static char comm[SL_PP2_COMM_MAX];
static size_t comm_len;
static uint32_t spread_counter;

/* ---------------------------------------------------------------------------------------------------------------- */
/* Helpers                                                                                                          */

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(uint32_t ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
  /* A signal must not shorten the bounded wait into an early failure; resume with what is left. */
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* murmur3's finaliser: consecutive counters land far apart in 127.0.0.0/8. */
static uint32_t fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

/* A host part for 127.x.y.z, never .0.0.0 (network) or .255.255.255 (broadcast). */
static uint32_t spread_host(pid_t pid) {
  uint32_t n = __atomic_fetch_add(&spread_counter, 1, __ATOMIC_RELAXED);
  uint32_t host = fmix32(n ^ ((uint32_t)pid * 0x9E3779B1u)) & 0xFFFFFFu;
  return (host == 0 || host == 0xFFFFFFu) ? 1 : host;
}

static const uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};

static int is_mapped(const uint8_t *a16) { return memcmp(a16, kMappedPrefix, 12) == 0; }

/* Endpoint of a sockaddr the kernel gave us (v4-mapped v6 becomes v4); -1 for other families. */
static int endpoint_of(const struct sockaddr_storage *ss, struct sl_endpoint *e) {
  memset(e, 0, sizeof *e);
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
    e->family = 4;
    memcpy(e->addr, &in->sin_addr, 4);
    e->port = ntohs(in->sin_port);
    return 0;
  }
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
    const uint8_t *a = in6->sin6_addr.s6_addr;
    e->port = ntohs(in6->sin6_port);
    if (is_mapped(a)) {
      e->family = 4;
      memcpy(e->addr, a + 12, 4);
    } else {
      e->family = 6;
      memcpy(e->addr, a, 16);
    }
    return 0;
  }
  return -1;
}

/* Loopback or "this host" (0.0.0.0/8, ::): connections that never leave the pod are not the proxy's business. */
static int is_local_destination(const struct sl_endpoint *e) {
  if (e->family == 4) return e->addr[0] == 127 || e->addr[0] == 0;
  static const uint8_t any[16] = {0};
  static const uint8_t one[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return memcmp(e->addr, any, 16) == 0 || memcmp(e->addr, one, 16) == 0;
}

/* True when a peer address is one of our redirect targets (loopback at the outbound port). */
static int is_redirect_peer(const struct sockaddr_storage *ss) {
  struct sl_endpoint e;
  if (endpoint_of(ss, &e) != 0 || e.port != cfg.outbound_port) return 0;
  if (e.family == 4) return e.addr[0] == 127;
  static const uint8_t one[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return memcmp(e.addr, one, 16) == 0;
}

/* Polls for writability (or error) until the deadline, resuming after signals. 0, ETIMEDOUT or errno. */
static int wait_writable(int fd, uint64_t deadline) {
  for (;;) {
    uint64_t now = now_ms();
    if (now >= deadline) return ETIMEDOUT;
    struct pollfd p = {.fd = fd, .events = POLLOUT, .revents = 0};
    int r = poll(&p, 1, (int)(deadline - now));
    if (r > 0) return (p.revents & POLLNVAL) ? EBADF : 0;
    if (r == 0) continue; /* re-check the clock */
    if (errno != EINTR) return errno;
  }
}

/* connect(AF_UNSPEC): back to an unconnected socket (state, source address and port released) so it can retry. */
static void reset_socket(int fd) {
  struct sockaddr unspec;
  memset(&unspec, 0, sizeof unspec);
  unspec.sa_family = AF_UNSPEC;
  int saved = errno;
  real_connect(fd, &unspec, sizeof unspec);
  errno = saved;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Deciding                                                                                                         */

enum verdict { SL_PASS, SL_REDIRECT };

struct plan {
  int fd;
  pid_t pid;              /* the caller's, read once per connect (it changes across fork) */
  int clear;              /* on pass: forget any getpeername entry of this fd */
  const char *pass_reason;
  struct sl_endpoint dst; /* the original destination, unmapped */
  union {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
  } orig, via;            /* what the app asked for (as getpeername will show it), where we send it */
  socklen_t orig_len, via_len;
  struct sl_endpoint via_ep;
};

static void log_decision(const struct plan *p, const char *what, const char *detail) {
  struct sl_line l;
  sl_line_begin(&l);
  sl_line_str(&l, what);
  sl_line_str(&l, " fd=");
  sl_line_i64(&l, p->fd);
  sl_line_str(&l, " dst=");
  sl_line_endpoint(&l, &p->dst);
  if (detail != NULL) {
    sl_line_str(&l, " ");
    sl_line_str(&l, detail);
  }
  sl_line_emit(&l);
}

/* Address-only checks: no system calls. */
static enum verdict plan_address(const struct sockaddr *addr, socklen_t len, struct plan *p) {
  if (addr == NULL || len < (socklen_t)sizeof(sa_family_t)) return SL_PASS;
  memset(&p->orig, 0, sizeof p->orig);
  if (addr->sa_family == AF_INET) {
    if (len < (socklen_t)sizeof(struct sockaddr_in)) return SL_PASS; /* the kernel will say EINVAL */
    memcpy(&p->orig.in, addr, sizeof(struct sockaddr_in));
    memset(p->orig.in.sin_zero, 0, sizeof p->orig.in.sin_zero);
    p->orig_len = sizeof(struct sockaddr_in);
    p->dst.family = 4;
    memcpy(p->dst.addr, &p->orig.in.sin_addr, 4);
    p->dst.port = ntohs(p->orig.in.sin_port);
  } else if (addr->sa_family == AF_INET6) {
    if (len < 24 /* SIN6_LEN_RFC2133: the kernel accepts it without sin6_scope_id */) return SL_PASS;
    memcpy(&p->orig.in6, addr, len < sizeof(struct sockaddr_in6) ? len : sizeof(struct sockaddr_in6));
    p->orig.in6.sin6_flowinfo = 0;
    p->orig_len = sizeof(struct sockaddr_in6);
    struct sockaddr_storage ss;
    memcpy(&ss, &p->orig.in6, sizeof p->orig.in6);
    endpoint_of(&ss, &p->dst);
  } else {
    return SL_PASS; /* AF_UNSPEC (disconnect), AF_UNIX, netlink, … */
  }
  p->clear = 1;
  if (p->dst.port == 0) {
    p->pass_reason = "port-zero";
  } else if (is_local_destination(&p->dst)) {
    p->pass_reason = "loopback";
  } else if (sl_port_in(cfg.never_ports, p->dst.port)) {
    p->pass_reason = "proxy-port";
  } else if (sl_port_in(cfg.exclude_ports, p->dst.port)) {
    p->pass_reason = "excluded-port";
  } else if (sl_cidr_match(cfg.exclude, cfg.n_exclude, p->dst.family, p->dst.addr)) {
    p->pass_reason = "excluded-cidr";
  } else if (!cfg.include_all && !sl_cidr_match(cfg.include, cfg.n_include, p->dst.family, p->dst.addr)) {
    p->pass_reason = "not-included";
  } else {
    return SL_REDIRECT;
  }
  return SL_PASS;
}

/* Socket checks (a few getsockopt calls): TCP, not yet connecting, and which loopback the socket can reach. */
static enum verdict plan_socket(int fd, const struct sockaddr *addr, struct plan *p) {
  int proto = 0;
  socklen_t l = sizeof proto;
  /* SO_PROTOCOL == TCP implies SOCK_STREAM; it keeps SCTP and MPTCP stream sockets out, as well as UDP. */
  if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l) != 0 || proto != IPPROTO_TCP) {
    p->clear = 0;
    return SL_PASS;
  }
  /* Already connecting or connected (a repeated connect after EINPROGRESS, or a listening socket): the kernel
   * answers EALREADY / 0 / EISCONN / EINVAL without looking at the address, so hand it over unchanged. */
  struct tcp_info info;
  l = sizeof info.tcpi_state;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &l) != 0 || info.tcpi_state != TCP_CLOSE) {
    p->clear = 0;
    p->pass_reason = "already-connected";
    return SL_PASS;
  }

  /* Bound to a device (SO_BINDTODEVICE: VRFs, multi-homed hosts): the app chose that interface and lo is not on
   * it — the kernel would refuse the redirect, or worse, route 127.x out of that device. Leave it alone, as without
   * the hook (the TPROXY fallback still sees it). */
  char dev[64] = {0};
  l = sizeof dev;
  if (getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, &l) == 0 && l > 0 && dev[0] != '\0' && strcmp(dev, "lo") != 0) {
    p->pass_reason = "bound-to-device";
    return SL_PASS;
  }

  uint32_t host = 0;
  p->pid = getpid();
  memset(&p->via, 0, sizeof p->via);
  memset(&p->via_ep, 0, sizeof p->via_ep);
  p->via_ep.port = cfg.outbound_port;
  if (addr->sa_family == AF_INET) {
    host = 0x7F000000u | spread_host(p->pid);
    p->via.in.sin_family = AF_INET;
    p->via.in.sin_port = htons(cfg.outbound_port);
    p->via.in.sin_addr.s_addr = htonl(host);
    p->via_len = sizeof(struct sockaddr_in);
    p->via_ep.family = 4;
    memcpy(p->via_ep.addr, &p->via.in.sin_addr, 4);
    return SL_REDIRECT;
  }

  int v6only = 0;
  l = sizeof v6only;
  if (getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &l) != 0) return SL_PASS; /* not an AF_INET6 socket */
  struct sockaddr_in6 local;
  l = sizeof local;
  if (getsockname(fd, (struct sockaddr *)&local, &l) != 0 || local.sin6_family != AF_INET6) return SL_PASS;
  static const uint8_t any[16] = {0};
  int bound_v6 = memcmp(local.sin6_addr.s6_addr, any, 16) != 0 && !is_mapped(local.sin6_addr.s6_addr);
  if (p->dst.family == 4 && (v6only || bound_v6)) {
    p->pass_reason = "v4-mapped-unreachable"; /* V6ONLY or v6-bound: the kernel refuses it; let it say so */
    return SL_PASS;
  }
  p->via.in6.sin6_family = AF_INET6;
  p->via.in6.sin6_port = htons(cfg.outbound_port);
  p->via_len = sizeof(struct sockaddr_in6);
  p->via_ep.family = 6;
  if (v6only || bound_v6) {
    /* ::1 is the only v6 loopback address; V6ONLY sockets cannot reach 127.0.0.0/8. */
    p->via.in6.sin6_addr.s6_addr[15] = 1;
    memcpy(p->via_ep.addr, p->via.in6.sin6_addr.s6_addr, 16);
  } else {
    host = 0x7F000000u | spread_host(p->pid);
    uint8_t *a = p->via.in6.sin6_addr.s6_addr;
    memcpy(a, kMappedPrefix, 12);
    uint32_t be = htonl(host);
    memcpy(a + 12, &be, 4);
    p->via_ep.family = 4;
    memcpy(p->via_ep.addr, a + 12, 4);
  }
  return SL_REDIRECT;
}

static enum verdict plan_connect(int fd, const struct sockaddr *addr, socklen_t len, struct plan *p) {
  memset(p, 0, sizeof *p);
  p->fd = fd;
  enum verdict v = plan_address(addr, len, p);
  if (v == SL_PASS) {
    if (cfg.log && p->pass_reason != NULL && strcmp(p->pass_reason, "port-zero") != 0) {
      int proto = 0;
      socklen_t l = sizeof proto;
      if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l) == 0 && proto == IPPROTO_TCP) {
        log_decision(p, "pass", p->pass_reason);
      }
    }
    return SL_PASS;
  }
  v = plan_socket(fd, addr, p);
  if (v == SL_PASS && cfg.log && p->pass_reason != NULL) log_decision(p, "pass", p->pass_reason);
  return v;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Connecting through the proxy                                                                                     */

/* The loopback handshake: 0 once established, else the errno it failed with. */
static int loopback_connect(int fd, const struct plan *p) {
  if (real_connect(fd, &p->via.sa, p->via_len) == 0) return 0;
  int e = errno;
  /* EINTR: a blocking connect interrupted by a signal goes on in the kernel — wait for it like EINPROGRESS. */
  if (e != EINPROGRESS && e != EINTR) return e;
  e = wait_writable(fd, now_ms() + SL_LOOPBACK_WAIT_MS);
  if (e == ETIMEDOUT) reset_socket(fd);
  if (e != 0) return e;
  int soerr = 0;
  socklen_t l = sizeof soerr;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &l) != 0) return errno;
  return soerr;
}

/* Writes the whole header in one send (MSG_NOSIGNAL). 0 or the errno. */
static int write_header(int fd, const struct plan *p) {
  struct sockaddr_storage local;
  socklen_t l = sizeof local;
  struct sl_endpoint src;
  if (getsockname(fd, (struct sockaddr *)&local, &l) != 0) return errno;
  if (endpoint_of(&local, &src) != 0) return EAFNOSUPPORT;
  uint8_t header[SL_PP2_MAX_HEADER];
  size_t n = sl_pp2_build(header, &src, &p->dst, (uint32_t)p->pid, (uint32_t)geteuid(), comm, comm_len);
  size_t off = 0;
  uint64_t deadline = now_ms() + SL_LOOPBACK_WAIT_MS;
  while (off < n) {
    ssize_t w = send(fd, header + off, n - off, MSG_NOSIGNAL);
    if (w > 0) {
      off += (size_t)w;
      continue;
    }
    int e = errno;
    if (e == EINTR) continue;
    /* EINPROGRESS: TCP_FASTOPEN_CONNECT deferred the handshake to this first write on a non-blocking socket. */
    if (e == EAGAIN || e == EWOULDBLOCK || e == EINPROGRESS || e == EALREADY) {
      e = wait_writable(fd, deadline);
      if (e == 0) continue;
    }
    return e == EPIPE ? ECONNRESET : e;
  }
  return 0;
}

enum outcome { SL_CONNECTED, SL_FAILED, SL_DIRECT };


static void log_errno(const struct plan *p, const char *what, int err) {
  if (!cfg.log) return;
  log_decision(p, what, sl_errno_name(err));
}

/*
 * Loopback connect + header, with the proxy-down policy around it. SL_CONNECTED: the socket is connected to the
 * listener and the header is written; SL_FAILED: *err is for the caller; SL_DIRECT (policy open): the socket was
 * reset and the caller connects it to the original destination itself.
 */
static enum outcome connect_via_proxy(const struct plan *p, int *err) {
  uint64_t start = now_ms();
  uint32_t backoff = 1;
  int waited = 0;
  for (;;) {
    int e = loopback_connect(p->fd, p);
    if (e == 0) e = write_header(p->fd, p);
    if (e == 0) {
      if (waited && cfg.log) log_decision(p, "proxy up", NULL);
      return SL_CONNECTED;
    }
    if (e != ECONNREFUSED && e != ECONNRESET) {
      log_errno(p, "error", e);
      *err = e;
      return SL_FAILED;
    }
    /* The listener is not there (yet): the pod start-up race, istio/istio#11130. */
    reset_socket(p->fd);
    if (cfg.down_policy == SL_DOWN_OPEN) {
      if (cfg.log) log_decision(p, "proxy down", "policy=open: connecting directly");
      return SL_DIRECT;
    }
    uint64_t elapsed = now_ms() - start;
    if (cfg.down_policy == SL_DOWN_CLOSED || elapsed >= cfg.down_wait_ms) {
      log_errno(p, "proxy down", ECONNREFUSED);
      *err = ECONNREFUSED;
      return SL_FAILED;
    }
    if (!waited && cfg.log) log_decision(p, "proxy down", "policy=wait: retrying");
    waited = 1;
    uint64_t left = cfg.down_wait_ms - elapsed;
    sleep_ms(backoff < left ? backoff : (uint32_t)left);
    backoff = backoff * 2 > SL_BACKOFF_MAX_MS ? SL_BACKOFF_MAX_MS : backoff * 2;
  }
}

static void remember(const struct plan *p) {
  uint64_t cookie = 0;
  socklen_t l = sizeof cookie;
  if (getsockopt(p->fd, SOL_SOCKET, SO_COOKIE, &cookie, &l) == 0 && cookie != 0) {
    sl_peer_table_put(p->fd, cookie, &p->orig.sa, p->orig_len);
  }
  if (cfg.log) {
    struct sl_line l2;
    sl_line_begin(&l2);
    sl_line_str(&l2, "redirect fd=");
    sl_line_i64(&l2, p->fd);
    sl_line_str(&l2, " dst=");
    sl_line_endpoint(&l2, &p->dst);
    sl_line_str(&l2, " via=");
    sl_line_endpoint(&l2, &p->via_ep);
    sl_line_emit(&l2);
  }
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Interposed symbols                                                                                               */

SL_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len) {
  if (!active) return real_connect(fd, addr, len);
  int saved = errno;
  struct plan p;
  if (plan_connect(fd, addr, len, &p) == SL_PASS) {
    if (p.clear || (addr != NULL && len >= (socklen_t)sizeof(sa_family_t) && addr->sa_family == AF_UNSPEC)) {
      sl_peer_table_clear(fd);
    }
    errno = saved;
    return real_connect(fd, addr, len);
  }
  int flags = fcntl(fd, F_GETFL);
  int err = 0;
  switch (connect_via_proxy(&p, &err)) {
    case SL_CONNECTED:
      remember(&p);
      if (flags >= 0 && (flags & O_NONBLOCK)) {
        errno = EINPROGRESS;
        return -1;
      }
      errno = saved;
      return 0;
    case SL_DIRECT:
      sl_peer_table_clear(fd);
      errno = saved;
      return real_connect(fd, addr, len);
    case SL_FAILED:
    default:
      errno = err;
      return -1;
  }
}

/* TCP Fast Open: sendto/sendmsg with MSG_FASTOPEN connect implicitly; do our connect, then send without it. */
SL_EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr, socklen_t len) {
  if (!active || !(flags & MSG_FASTOPEN) || addr == NULL) return real_sendto(fd, buf, n, flags, addr, len);
  int saved = errno;
  struct plan p;
  if (plan_connect(fd, addr, len, &p) == SL_PASS) {
    if (p.clear) sl_peer_table_clear(fd);
    errno = saved;
    return real_sendto(fd, buf, n, flags, addr, len);
  }
  int err = 0;
  switch (connect_via_proxy(&p, &err)) {
    case SL_CONNECTED:
      remember(&p);
      errno = saved;
      return real_sendto(fd, buf, n, flags & ~MSG_FASTOPEN, NULL, 0);
    case SL_DIRECT:
      sl_peer_table_clear(fd);
      errno = saved;
      return real_sendto(fd, buf, n, flags, addr, len);
    case SL_FAILED:
    default:
      errno = err;
      return -1;
  }
}

SL_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
  if (!active || !(flags & MSG_FASTOPEN) || msg == NULL || msg->msg_name == NULL) return real_sendmsg(fd, msg, flags);
  int saved = errno;
  struct plan p;
  if (plan_connect(fd, msg->msg_name, msg->msg_namelen, &p) == SL_PASS) {
    if (p.clear) sl_peer_table_clear(fd);
    errno = saved;
    return real_sendmsg(fd, msg, flags);
  }
  int err = 0;
  struct msghdr plain;
  switch (connect_via_proxy(&p, &err)) {
    case SL_CONNECTED:
      remember(&p);
      plain = *msg;
      plain.msg_name = NULL;
      plain.msg_namelen = 0;
      errno = saved;
      return real_sendmsg(fd, &plain, flags & ~MSG_FASTOPEN);
    case SL_DIRECT:
      sl_peer_table_clear(fd);
      errno = saved;
      return real_sendmsg(fd, msg, flags);
    case SL_FAILED:
    default:
      errno = err;
      return -1;
  }
}

SL_EXPORT int getpeername(int fd, struct sockaddr *addr, socklen_t *len) {
  if (!active || addr == NULL || len == NULL || !sl_peer_table_maybe(fd)) return real_getpeername(fd, addr, len);
  socklen_t room = *len;
  int r = real_getpeername(fd, addr, len);
  if (r != 0) return r; /* ENOTCONN after a reset, EBADF, …: exactly the kernel's answer */
  int saved = errno;
  /* The kernel's peer must be our redirect target, and the socket the one we recorded (same cookie). */
  struct sockaddr_storage peer;
  socklen_t pl = sizeof peer;
  uint64_t cookie = 0;
  socklen_t cl = sizeof cookie;
  struct sockaddr_in6 orig;
  socklen_t ol = 0;
  if (real_getpeername(fd, (struct sockaddr *)&peer, &pl) == 0 && is_redirect_peer(&peer) &&
      getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &cl) == 0 && sl_peer_table_get(fd, cookie, &orig, &ol)) {
    memcpy(addr, &orig, room < ol ? room : ol);
    *len = ol;
  }
  errno = saved;
  return 0;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Set-up, once per process image                                                                                   */

static void resolve(const char *name, void **slot, void *self) {
  void *p = dlsym(RTLD_NEXT, name);
  if (p != NULL && p != self) *slot = p; /* else keep the raw-syscall fallback */
}

static void log_plain(const char *msg) {
  struct sl_line l;
  sl_line_begin(&l);
  sl_line_str(&l, msg);
  sl_line_emit(&l);
}

__attribute__((constructor)) static void sidelane_hook_init(void) {
  resolve("connect", (void **)&real_connect, (void *)connect);
  resolve("sendto", (void **)&real_sendto, (void *)sendto);
  resolve("sendmsg", (void **)&real_sendmsg, (void *)sendmsg);
  resolve("getpeername", (void **)&real_getpeername, (void *)getpeername);

  /* Secure execution (setuid, setgid, file capabilities): the environment is the caller's, not the program's;
   * read none of it and stay inert — silently, since even SIDELANE_HOOK_LOG is not to be trusted. */
  if (getauxval(AT_SECURE) != 0) return;

  char err[200];
  if (sl_config_load(&cfg, err, sizeof err) != 0) {
    struct sl_line l;
    sl_line_begin(&l);
    sl_line_str(&l, err);
    sl_line_str(&l, "; the hook is disabled in this process");
    sl_line_emit(&l);
    return;
  }
  if (cfg.inert) {
    if (cfg.log) log_plain("disabled by SIDELANE_DISABLE");
    return;
  }
  char name[SL_PP2_COMM_MAX + 1] = {0};
  /* The constructor runs on the main thread, so this is the process name (a thread's own name may differ). */
  if (prctl(PR_GET_NAME, name) == 0) {
    comm_len = strnlen(name, SL_PP2_COMM_MAX);
    memcpy(comm, name, comm_len);
  }
  sl_peer_table_init();
  active = 1;
  if (cfg.log) {
    struct sl_line l;
    sl_line_begin(&l);
    sl_line_str(&l, "active outbound_port=");
    sl_line_u64(&l, cfg.outbound_port);
    sl_line_str(&l, " on_proxy_down=");
    if (cfg.down_policy == SL_DOWN_OPEN) {
      sl_line_str(&l, "open");
    } else if (cfg.down_policy == SL_DOWN_CLOSED) {
      sl_line_str(&l, "closed");
    } else {
      sl_line_str(&l, "wait:");
      sl_line_u64(&l, cfg.down_wait_ms);
    }
    sl_line_emit(&l);
  }
}
