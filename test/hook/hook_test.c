/*
 * The connect() hook's test program: run with LD_PRELOAD=libsidelane_hook.so inside a lab pod by
 * test/e2e/hook/hook-connect.test.ts, which compiles it with gcc at test time. It hosts its own outbound listener
 * (0.0.0.0 and [::] on $SIDELANE_OUTBOUND_PORT) that parses the PROXY v2 header the hook wrote and answers with
 * one line describing it, so every check below is made on the real bytes; and "direct" listeners (the pod address,
 * loopback) that answer "DIRECT ..." and echo, to prove a connection was NOT redirected and carries no header.
 *
 * Usage: hook_test CASE...  — prints "ok CASE" per case, or "FAIL CASE: what was expected, what was seen" and exits 1.
 * Environment: SIDELANE_OUTBOUND_PORT (default 15001), HOOK_TEST_DIRECT_ADDR / HOOK_TEST_DIRECT_PORT (a listener on
 * the pod's own address), HOOK_TEST_LISTENER=none|delay:<ms> (proxy-down cases), HOOK_TEST_LIB (secure case).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif

static const char *current_case = "setup";
static int outbound_port = 15001;
static const char *direct_addr;
static int direct_port;

static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fail(const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  printf("FAIL %s: %s\n", current_case, msg);
  fflush(stdout);
  _exit(1);
}

#define CHECK(cond, ...) \
  do {                   \
    if (!(cond)) fail(__VA_ARGS__); \
  } while (0)

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* "a.b.c.d:port" or "[v6]:port" for any AF_INET/AF_INET6 sockaddr. */
static void fmt_sockaddr(const struct sockaddr *sa, char *out, size_t n) {
  char ip[INET6_ADDRSTRLEN] = "?";
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const void *)sa;
    inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
    snprintf(out, n, "%s:%u", ip, ntohs(in->sin_port));
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const void *)sa;
    inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
    snprintf(out, n, "[%s]:%u", ip, ntohs(in6->sin6_port));
  } else {
    snprintf(out, n, "family-%d", sa->sa_family);
  }
}

static socklen_t make_addr(const char *ip, int port, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *in = (void *)ss;
  struct sockaddr_in6 *in6 = (void *)ss;
  if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    return sizeof *in;
  }
  if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    return sizeof *in6;
  }
  fail("bad address %s", ip);
}

/* Text of "ip:port" the way fmt_sockaddr writes it. */
static void fmt_endpoint(const char *ip, int port, char *out, size_t n) {
  struct sockaddr_storage ss;
  make_addr(ip, port, &ss);
  fmt_sockaddr((struct sockaddr *)&ss, out, n);
}

/* ============================================================================================================== */
/* The test's own listeners                                                                                       */

static volatile int accepted_outbound; /* connections on the outbound port */
static volatile int bad_headers;       /* of which without a valid header */
static volatile int accepted_direct;

enum role { ROLE_OUTBOUND, ROLE_DIRECT };

struct listener {
  int fd;
  enum role role;
};

static struct listener listeners[8];
static int n_listeners;

static int read_full(int fd, uint8_t *buf, size_t n, int timeout_ms) {
  size_t off = 0;
  uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
  while (off < n) {
    uint64_t now = now_ms();
    if (now >= deadline) return -1;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, (int)(deadline - now));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    ssize_t got = recv(fd, buf + off, n - off, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return -1;
    off += (size_t)got;
  }
  return 0;
}

static void send_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

static void *echo_thread(void *arg) {
  int fd = (int)(intptr_t)arg;
  char buf[4096];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    send_all(fd, buf, (size_t)n);
  }
  close(fd);
  return NULL;
}

static void spawn_echo(int fd) {
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&t, &attr, echo_thread, (void *)(intptr_t)fd) != 0) close(fd);
  pthread_attr_destroy(&attr);
}

static void ep_text(int fam, const uint8_t *addr, const uint8_t *port, char *out, size_t n) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  if (fam == 4) {
    struct sockaddr_in *in = (void *)&ss;
    in->sin_family = AF_INET;
    memcpy(&in->sin_addr, addr, 4);
    memcpy(&in->sin_port, port, 2);
  } else {
    struct sockaddr_in6 *in6 = (void *)&ss;
    in6->sin6_family = AF_INET6;
    memcpy(&in6->sin6_addr, addr, 16);
    memcpy(&in6->sin6_port, port, 2);
  }
  fmt_sockaddr((struct sockaddr *)&ss, out, n);
}

/* Reads and checks one PROXY v2 header; answers "HDR ..." (or "BAD reason") and returns the destination port. */
static int serve_outbound(int fd) {
  static const uint8_t sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
  uint8_t h[16 + 512];
  char line[600];
  const char *bad = NULL;
  if (read_full(fd, h, 16, 2000) != 0) bad = "no header";
  else if (memcmp(h, sig, 12) != 0) bad = "signature";
  else if (h[12] != 0x21) bad = "version/command";
  else if (h[13] != 0x11 && h[13] != 0x21) bad = "family";
  size_t len = bad ? 0 : ((size_t)h[14] << 8 | h[15]);
  if (!bad && (len > 512 || read_full(fd, h + 16, len, 2000) != 0)) bad = "length";
  size_t alen = h[13] == 0x11 ? 12 : 36;
  if (!bad && len < alen) bad = "short address block";
  if (bad) {
    __atomic_fetch_add(&bad_headers, 1, __ATOMIC_SEQ_CST);
    snprintf(line, sizeof line, "BAD %s\n", bad);
    send_all(fd, line, strlen(line));
    return -1;
  }
  int fam = h[13] == 0x11 ? 4 : 6;
  int al = fam == 4 ? 4 : 16;
  const uint8_t *a = h + 16;
  char src[80], dst[80];
  ep_text(fam, a, a + 2 * al, src, sizeof src);
  ep_text(fam, a + al, a + 2 * al + 2, dst, sizeof dst);
  int dport = a[2 * al + 2] << 8 | a[2 * al + 3];
  uint32_t pid = 0, uid = 0;
  char comm[17] = "";
  int seen = 0;
  for (size_t off = alen; off < len;) {
    if (off + 3 > len) {
      bad = "tlv header";
      break;
    }
    uint8_t type = a[off];
    size_t tl = (size_t)a[off + 1] << 8 | a[off + 2];
    const uint8_t *v = a + off + 3;
    if (off + 3 + tl > len) {
      bad = "tlv overrun";
      break;
    }
    if (type == 0xE0 && tl == 4) pid = (uint32_t)v[0] << 24 | v[1] << 16 | v[2] << 8 | v[3], seen |= 1;
    if (type == 0xE1 && tl == 4) uid = (uint32_t)v[0] << 24 | v[1] << 16 | v[2] << 8 | v[3], seen |= 2;
    if (type == 0xE2 && tl >= 1 && tl <= 16 && memchr(v, 0, tl) == NULL) memcpy(comm, v, tl), comm[tl] = 0, seen |= 4;
    off += 3 + tl;
  }
  if (!bad && seen != 7) bad = "missing identity TLVs";
  if (bad) {
    __atomic_fetch_add(&bad_headers, 1, __ATOMIC_SEQ_CST);
    snprintf(line, sizeof line, "BAD %s\n", bad);
    send_all(fd, line, strlen(line));
    return -1;
  }
  struct sockaddr_storage local, peer;
  socklen_t ll = sizeof local, pl = sizeof peer;
  char ltxt[80] = "?", ptxt[80] = "?";
  if (getsockname(fd, (struct sockaddr *)&local, &ll) == 0) fmt_sockaddr((struct sockaddr *)&local, ltxt, sizeof ltxt);
  if (getpeername(fd, (struct sockaddr *)&peer, &pl) == 0) fmt_sockaddr((struct sockaddr *)&peer, ptxt, sizeof ptxt);
  snprintf(line, sizeof line, "HDR fam=%d src=%s dst=%s pid=%u uid=%u comm=%s via=%d local=%s peer=%s\n", fam, src, dst,
           pid, uid, comm, local.ss_family == AF_INET6 ? 6 : 4, ltxt, ptxt);
  send_all(fd, line, strlen(line));
  return dport;
}

static void serve_direct(int fd) {
  struct sockaddr_storage local;
  socklen_t ll = sizeof local;
  char ltxt[80] = "?", line[128];
  if (getsockname(fd, (struct sockaddr *)&local, &ll) == 0) fmt_sockaddr((struct sockaddr *)&local, ltxt, sizeof ltxt);
  snprintf(line, sizeof line, "DIRECT local=%s\n", ltxt);
  send_all(fd, line, strlen(line));
  spawn_echo(fd);
}

static void *accept_loop(void *arg) {
  (void)arg;
  struct pollfd p[8];
  for (;;) {
    for (int i = 0; i < n_listeners; i++) p[i] = (struct pollfd){.fd = listeners[i].fd, .events = POLLIN};
    if (poll(p, (nfds_t)n_listeners, -1) < 0) continue;
    for (int i = 0; i < n_listeners; i++) {
      if (!(p[i].revents & POLLIN)) continue;
      int c = accept4(listeners[i].fd, NULL, NULL, SOCK_CLOEXEC);
      if (c < 0) continue;
      if (listeners[i].role == ROLE_DIRECT) {
        __atomic_fetch_add(&accepted_direct, 1, __ATOMIC_SEQ_CST);
        serve_direct(c);
        continue;
      }
      __atomic_fetch_add(&accepted_outbound, 1, __ATOMIC_SEQ_CST);
      if (serve_outbound(c) == 7) spawn_echo(c); /* port 7: echo what follows the header (TFO cases) */
      else close(c);
    }
  }
  return NULL;
}

/* A listening socket; port 0 picks one. Returns the bound port. */
static int add_listener(const char *ip, int port, enum role role) {
  struct sockaddr_storage ss;
  socklen_t len = make_addr(ip, port, &ss);
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0, "socket: %s", strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  CHECK(bind(fd, (struct sockaddr *)&ss, len) == 0, "bind %s:%d: %s", ip, port, strerror(errno));
  CHECK(listen(fd, 4096) == 0, "listen: %s", strerror(errno));
  listeners[n_listeners++] = (struct listener){fd, role};
  len = sizeof ss;
  getsockname(fd, (struct sockaddr *)&ss, &len);
  return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

static int loopback_port, loopback6_port;

static void start_outbound(void) {
  add_listener("0.0.0.0", outbound_port, ROLE_OUTBOUND);
  add_listener("::", outbound_port, ROLE_OUTBOUND);
}

static void *delayed_outbound(void *arg) {
  usleep((useconds_t)(intptr_t)arg * 1000);
  /* The accept loop polls a snapshot; a second loop thread serves the late listeners. */
  n_listeners = 0;
  start_outbound();
  accept_loop(NULL);
  return NULL;
}

static void start_listeners(void) {
  const char *mode = getenv("HOOK_TEST_LISTENER");
  if (mode == NULL || strcmp(mode, "none") != 0) {
    if (mode != NULL && strncmp(mode, "delay:", 6) == 0) {
      pthread_t t;
      pthread_create(&t, NULL, delayed_outbound, (void *)(intptr_t)atoi(mode + 6));
      pthread_detach(t);
      return;
    }
    start_outbound();
  }
  loopback_port = add_listener("127.0.0.1", 0, ROLE_DIRECT);
  loopback6_port = add_listener("::1", 0, ROLE_DIRECT);
  if (direct_addr) {
    add_listener(direct_addr, direct_port, ROLE_DIRECT);
    add_listener(direct_addr, 15021, ROLE_DIRECT); /* a proxy port: never redirected */
  }
  pthread_t t;
  pthread_create(&t, NULL, accept_loop, NULL);
  pthread_detach(t);
}

/* ============================================================================================================== */
/* Client helpers                                                                                                 */

static int read_line(int fd, char *buf, size_t n, int timeout_ms) {
  size_t off = 0;
  uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
  while (off + 1 < n) {
    uint64_t now = now_ms();
    if (now >= deadline) break;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, (int)(deadline - now));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    char c;
    ssize_t got = recv(fd, &c, 1, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    if (c == '\n') {
      buf[off] = 0;
      return 0;
    }
    buf[off++] = c;
  }
  buf[off] = 0;
  return -1;
}

struct reply {
  char raw[600];
  int fam, via;
  char src[80], dst[80], comm[32], local[80], peer[80];
  unsigned pid, uid;
};

static void field(const char *line, const char *key, char *out, size_t n) {
  const char *p = strstr(line, key);
  out[0] = 0;
  if (p == NULL) return;
  p += strlen(key);
  size_t i = 0;
  while (p[i] && p[i] != ' ' && i + 1 < n) out[i] = p[i], i++;
  out[i] = 0;
}

/* Reads the listener's answer and insists it is a header carrying want_dst. */
static void expect_redirect(int fd, const char *want_dst, struct reply *r) {
  struct reply local;
  if (r == NULL) r = &local;
  CHECK(read_line(fd, r->raw, sizeof r->raw, 3000) == 0, "no answer from the outbound listener (wanted a header for %s)",
        want_dst);
  CHECK(strncmp(r->raw, "HDR ", 4) == 0, "expected a PROXY header for %s, listener said: %s", want_dst, r->raw);
  char tmp[32];
  field(r->raw, "fam=", tmp, sizeof tmp), r->fam = atoi(tmp);
  field(r->raw, "via=", tmp, sizeof tmp), r->via = atoi(tmp);
  field(r->raw, "pid=", tmp, sizeof tmp), r->pid = (unsigned)strtoul(tmp, NULL, 10);
  field(r->raw, "uid=", tmp, sizeof tmp), r->uid = (unsigned)strtoul(tmp, NULL, 10);
  field(r->raw, "src=", r->src, sizeof r->src);
  field(r->raw, "dst=", r->dst, sizeof r->dst);
  field(r->raw, "comm=", r->comm, sizeof r->comm);
  field(r->raw, "local=", r->local, sizeof r->local);
  field(r->raw, "peer=", r->peer, sizeof r->peer);
  CHECK(strcmp(r->dst, want_dst) == 0, "header carried dst %s, expected %s (line: %s)", r->dst, want_dst, r->raw);
}

/* Reads the direct listener's greeting and checks the stream carries nothing but our own bytes (no header). */
static void expect_direct(int fd, const char *what) {
  char line[200];
  CHECK(read_line(fd, line, sizeof line, 3000) == 0, "%s: no answer (expected a direct connection)", what);
  CHECK(strncmp(line, "DIRECT ", 7) == 0, "%s: expected a direct connection, got: %s", what, line);
  send_all(fd, "PING\n", 5);
  CHECK(read_line(fd, line, sizeof line, 3000) == 0 && strcmp(line, "PING") == 0,
        "%s: the direct peer did not echo exactly our bytes (a header in the stream?): %s", what, line);
}

static void expect_peer(int fd, const char *want) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  CHECK(getpeername(fd, (struct sockaddr *)&ss, &len) == 0, "getpeername: %s", strerror(errno));
  char got[80];
  fmt_sockaddr((struct sockaddr *)&ss, got, sizeof got);
  CHECK(strcmp(got, want) == 0, "getpeername gave %s, expected %s", got, want);
  socklen_t want_len = ss.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
  CHECK(len == want_len, "getpeername length %u, expected %u", (unsigned)len, (unsigned)want_len);
}

static int tcp_socket(int family, int flags) {
  int fd = socket(family, SOCK_STREAM | flags, 0);
  CHECK(fd >= 0, "socket: %s", strerror(errno));
  return fd;
}

static int connect_to(int fd, const char *ip, int port) {
  struct sockaddr_storage ss;
  socklen_t len = make_addr(ip, port, &ss);
  if (fd >= 0) {
    int fam = 0;
    socklen_t fl = sizeof fam;
    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &fam, &fl);
    if (fam == AF_INET6 && ss.ss_family == AF_INET) { /* a v4 literal on a v6 socket: use its v4-mapped form */
      struct sockaddr_in in = *(struct sockaddr_in *)&ss;
      struct sockaddr_in6 *in6 = (void *)&ss;
      memset(in6, 0, sizeof *in6);
      in6->sin6_family = AF_INET6;
      in6->sin6_port = in.sin_port;
      in6->sin6_addr.s6_addr[10] = in6->sin6_addr.s6_addr[11] = 0xFF;
      memcpy(&in6->sin6_addr.s6_addr[12], &in.sin_addr, 4);
      len = sizeof *in6;
    }
  }
  return connect(fd, (struct sockaddr *)&ss, len);
}

static int wait_connected(int fd) {
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int r = poll(&p, 1, 3000);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return ETIMEDOUT;
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
    return err;
  }
}

/* A hooked connect to ip:port that must come out at our listener carrying that destination. */
static void hooked_roundtrip(int family, int flags, const char *ip, int port, struct reply *r) {
  char want[80];
  fmt_endpoint(ip, port, want, sizeof want);
  int fd = tcp_socket(family, flags);
  int rc = connect_to(fd, ip, port);
  if (rc != 0) {
    CHECK(errno == EINPROGRESS || errno == EINTR, "connect %s: %s", want, strerror(errno));
    int err = wait_connected(fd);
    CHECK(err == 0, "connect %s completed with %s", want, strerror(err));
  }
  expect_redirect(fd, want, r);
  expect_peer(fd, want);
  close(fd);
}

static char proc_name[17];

static void check_identity(const struct reply *r) {
  CHECK(r->pid == (unsigned)getpid(), "pid TLV %u, expected %d", r->pid, getpid());
  CHECK(r->uid == (unsigned)geteuid(), "uid TLV %u, expected %u", r->uid, (unsigned)geteuid());
  CHECK(strcmp(r->comm, proc_name) == 0, "comm TLV \"%s\", expected \"%s\"", r->comm, proc_name);
}

static int outbound_count(void) { return __atomic_load_n(&accepted_outbound, __ATOMIC_SEQ_CST); }

/* ============================================================================================================== */
/* Cases                                                                                                          */

static void case_blocking_v4(void) {
  int fd = tcp_socket(AF_INET, 0);
  errno = EXDEV;
  CHECK(connect_to(fd, "198.18.9.9", 80) == 0, "blocking connect returned -1/%s", strerror(errno));
  CHECK(errno == EXDEV, "a successful connect changed errno to %s", strerror(errno));
  struct reply r;
  expect_redirect(fd, "198.18.9.9:80", &r);
  CHECK(r.fam == 4 && r.via == 4, "expected a TCP4 header on the v4 listener: %s", r.raw);
  check_identity(&r);
  struct sockaddr_storage me;
  socklen_t ml = sizeof me;
  getsockname(fd, (struct sockaddr *)&me, &ml);
  char metxt[80];
  fmt_sockaddr((struct sockaddr *)&me, metxt, sizeof metxt);
  CHECK(strcmp(r.src, metxt) == 0, "header src %s, but the socket's local address is %s", r.src, metxt);
  CHECK(strcmp(r.peer, metxt) == 0, "listener saw peer %s, socket is %s", r.peer, metxt);
  CHECK(strncmp(r.local, "127.", 4) == 0, "listener's local address %s is not in 127.0.0.0/8", r.local);
  expect_peer(fd, "198.18.9.9:80");
  /* A short buffer: the kernel's contract is a truncated copy and the full length in *len. */
  struct sockaddr_in small;
  memset(&small, 0xAA, sizeof small);
  socklen_t sl = 4;
  CHECK(getpeername(fd, (struct sockaddr *)&small, &sl) == 0, "getpeername(short): %s", strerror(errno));
  CHECK(sl == sizeof(struct sockaddr_in), "getpeername(short) length %u", (unsigned)sl);
  CHECK(small.sin_family == AF_INET && ((uint8_t *)&small)[4] == 0xAA, "getpeername(short) wrote past the buffer");
  errno = 0;
  CHECK(connect_to(fd, "198.18.9.9", 80) == -1 && errno == EISCONN, "repeated connect: want EISCONN, got %s",
        strerror(errno));
  close(fd);
}

static void case_nonblocking_v4(void) {
  int before = outbound_count();
  int fd = tcp_socket(AF_INET, SOCK_NONBLOCK);
  int rc = connect_to(fd, "198.18.9.10", 8080);
  CHECK(rc == -1 && errno == EINPROGRESS, "non-blocking connect: want -1/EINPROGRESS, got %d/%s", rc, strerror(errno));
  CHECK(wait_connected(fd) == 0, "SO_ERROR after poll is not 0");
  /* Like the kernel after a completed non-blocking connect: 0 once, then EISCONN. */
  rc = connect_to(fd, "198.18.9.10", 8080);
  CHECK(rc == 0 || errno == EISCONN, "second connect: want 0 or EISCONN, got %s", strerror(errno));
  errno = 0;
  CHECK(connect_to(fd, "198.18.9.10", 8080) == -1 && errno == EISCONN, "third connect: want EISCONN, got %s",
        strerror(errno));
  struct reply r;
  expect_redirect(fd, "198.18.9.10:8080", &r);
  expect_peer(fd, "198.18.9.10:8080");
  close(fd);
  CHECK(outbound_count() - before == 1, "repeated connects opened %d connections to the listener, want 1",
        outbound_count() - before);
}

static volatile sig_atomic_t signals_seen;
static void on_alarm(int sig) {
  (void)sig;
  signals_seen++;
}

static void case_eintr(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm; /* no SA_RESTART: interrupted calls fail with EINTR */
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval it = {.it_interval = {0, 50}, .it_value = {0, 50}};
  setitimer(ITIMER_REAL, &it, NULL);
  int eintr = 0;
  for (int i = 0; i < 400; i++) {
    char ip[32], want[64];
    snprintf(ip, sizeof ip, "198.18.10.%d", i % 200 + 1);
    int port = 1000 + i;
    fmt_endpoint(ip, port, want, sizeof want);
    int fd = tcp_socket(AF_INET, i % 2 ? SOCK_NONBLOCK : 0);
    int rc = connect_to(fd, ip, port);
    if (rc != 0) {
      if (errno == EINTR) eintr++;
      CHECK(errno == EINPROGRESS || errno == EINTR, "connect %s under signals: %s", want, strerror(errno));
      CHECK(wait_connected(fd) == 0, "connect %s under signals did not complete", want);
    }
    expect_redirect(fd, want, NULL);
    expect_peer(fd, want);
    close(fd);
  }
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  CHECK(signals_seen > 100, "the signal storm did not happen (%d signals)", (int)signals_seen);
  printf("info eintr: %d signals, %d connects returned EINTR\n", (int)signals_seen, eintr);
}

static void case_ipv6(void) {
  struct reply r;
  hooked_roundtrip(AF_INET6, 0, "2001:db8::9", 443, &r);
  CHECK(r.fam == 6, "expected a TCP6 header: %s", r.raw);
  CHECK(r.via == 4 && strncmp(r.local, "127.", 4) == 0, "a dual-stack socket should reach 127.0.0.0/8: %s", r.raw);
  hooked_roundtrip(AF_INET6, SOCK_NONBLOCK, "2001:db8:1::1", 5432, &r);
}

static void case_v6only(void) {
  int fd = tcp_socket(AF_INET6, 0);
  int one = 1;
  setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  CHECK(connect_to(fd, "2001:db8::9", 443) == 0, "v6only connect: %s", strerror(errno));
  struct reply r;
  expect_redirect(fd, "[2001:db8::9]:443", &r);
  CHECK(r.fam == 6 && r.via == 6 && strncmp(r.local, "[::1]:", 6) == 0, "a V6ONLY socket must reach [::1]: %s", r.raw);
  expect_peer(fd, "[2001:db8::9]:443");
  close(fd);
  /* A V6ONLY socket cannot reach a v4-mapped destination: the kernel's error, and no connection anywhere. */
  int before = outbound_count();
  fd = tcp_socket(AF_INET6, 0);
  setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  CHECK(connect_to(fd, "::ffff:198.18.9.9", 80) == -1, "v4-mapped on a V6ONLY socket should fail");
  CHECK(errno == ENETUNREACH || errno == EAFNOSUPPORT, "v4-mapped on V6ONLY: unexpected %s", strerror(errno));
  close(fd);
  usleep(20000);
  CHECK(outbound_count() == before, "the listener got a connection for a V6ONLY v4-mapped connect");
}

static void case_v4mapped(void) {
  int fd = tcp_socket(AF_INET6, 0);
  CHECK(connect_to(fd, "::ffff:198.18.9.9", 80) == 0, "v4-mapped connect: %s", strerror(errno));
  struct reply r;
  expect_redirect(fd, "198.18.9.9:80", &r);
  CHECK(r.fam == 4, "a v4-mapped destination travels as TCP4: %s", r.raw);
  expect_peer(fd, "[::ffff:198.18.9.9]:80");
  close(fd);
  fd = tcp_socket(AF_INET6, 0);
  CHECK(connect_to(fd, "198.18.9.11", 81) == 0, "v4-mapped (helper) connect: %s", strerror(errno));
  expect_redirect(fd, "198.18.9.11:81", NULL);
  close(fd);
}

static void case_spread(void) {
  char seen[64][80];
  int distinct = 0;
  for (int i = 0; i < 64; i++) {
    int fd = tcp_socket(AF_INET, 0);
    CHECK(connect_to(fd, "198.18.9.9", 80) == 0, "connect: %s", strerror(errno));
    struct reply r;
    expect_redirect(fd, "198.18.9.9:80", &r);
    close(fd);
    char *colon = strrchr(r.local, ':');
    if (colon) *colon = 0;
    int dup = 0;
    for (int j = 0; j < distinct; j++) dup |= strcmp(seen[j], r.local) == 0;
    if (!dup) snprintf(seen[distinct++], sizeof seen[0], "%s", r.local);
  }
  CHECK(distinct >= 60, "64 connects used only %d distinct loopback addresses", distinct);
}

static void case_udp(void) {
  int before = outbound_count();
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  errno = EXDEV;
  CHECK(connect_to(fd, "198.18.9.9", 53) == 0, "UDP connect: %s", strerror(errno));
  CHECK(errno == EXDEV, "UDP connect changed errno");
  expect_peer(fd, "198.18.9.9:53");
  /* AF_UNSPEC dissolves the association, exactly as without the hook. */
  struct sockaddr unspec = {.sa_family = AF_UNSPEC};
  CHECK(connect(fd, &unspec, sizeof unspec) == 0, "AF_UNSPEC connect: %s", strerror(errno));
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  CHECK(getpeername(fd, (struct sockaddr *)&ss, &len) == -1 && errno == ENOTCONN, "after AF_UNSPEC: want ENOTCONN");
  close(fd);
  fd = socket(AF_INET6, SOCK_DGRAM, 0);
  CHECK(connect_to(fd, "2001:db8::53", 53) == 0, "UDP6 connect: %s", strerror(errno));
  expect_peer(fd, "[2001:db8::53]:53");
  close(fd);
  usleep(20000);
  CHECK(outbound_count() == before, "a UDP connect reached the outbound listener");
}

static void case_unix(void) {
  int before = outbound_count();
  int l = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  snprintf(un.sun_path + 1, sizeof un.sun_path - 1, "sidelane-hook-test-%d", getpid());
  socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(un.sun_path + 1));
  CHECK(bind(l, (struct sockaddr *)&un, len) == 0 && listen(l, 4) == 0, "unix listen: %s", strerror(errno));
  int c = socket(AF_UNIX, SOCK_STREAM, 0);
  CHECK(connect(c, (struct sockaddr *)&un, len) == 0, "AF_UNIX connect: %s", strerror(errno));
  int a = accept(l, NULL, NULL);
  CHECK(a >= 0, "AF_UNIX accept: %s", strerror(errno));
  send_all(c, "x", 1);
  char b = 0;
  CHECK(recv(a, &b, 1, 0) == 1 && b == 'x', "AF_UNIX stream carried something other than our byte");
  close(a), close(c), close(l);
  CHECK(outbound_count() == before, "an AF_UNIX connect reached the outbound listener");
}

static void case_loopback(void) {
  int before = outbound_count();
  int fd = tcp_socket(AF_INET, 0);
  CHECK(connect_to(fd, "127.0.0.1", loopback_port) == 0, "loopback connect: %s", strerror(errno));
  expect_direct(fd, "127.0.0.1");
  char want[64];
  snprintf(want, sizeof want, "127.0.0.1:%d", loopback_port);
  expect_peer(fd, want);
  close(fd);
  fd = tcp_socket(AF_INET6, 0);
  CHECK(connect_to(fd, "::1", loopback6_port) == 0, "[::1] connect: %s", strerror(errno));
  expect_direct(fd, "[::1]");
  close(fd);
  fd = tcp_socket(AF_INET6, 0);
  CHECK(connect_to(fd, "::ffff:127.0.0.1", loopback_port) == 0, "v4-mapped loopback connect: %s", strerror(errno));
  expect_direct(fd, "::ffff:127.0.0.1");
  close(fd);
  CHECK(outbound_count() == before, "a loopback connect reached the outbound listener");
}

static void case_bad_args(void) {
  int before = outbound_count();
  int fd = tcp_socket(AF_INET, 0);
  struct sockaddr_storage ss;
  make_addr("198.18.9.9", 80, &ss);
  errno = 0;
  CHECK(connect(fd, (struct sockaddr *)&ss, 8) == -1 && errno == EINVAL, "short AF_INET addrlen: want EINVAL, got %s",
        strerror(errno));
  CHECK(connect(fd, (struct sockaddr *)&ss, 1) == -1 && errno == EINVAL, "1-byte addrlen: want EINVAL, got %s",
        strerror(errno));
  close(fd);
  fd = tcp_socket(AF_INET6, 0);
  make_addr("2001:db8::9", 80, &ss);
  CHECK(connect(fd, (struct sockaddr *)&ss, 20) == -1 && errno == EINVAL, "short AF_INET6 addrlen: want EINVAL, got %s",
        strerror(errno));
  close(fd);
  make_addr("198.18.9.9", 80, &ss);
  CHECK(connect(fd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)) == -1 && errno == EBADF,
        "closed fd: want EBADF, got %s", strerror(errno));
  int p[2];
  CHECK(pipe(p) == 0, "pipe");
  CHECK(connect(p[0], (struct sockaddr *)&ss, sizeof(struct sockaddr_in)) == -1 && errno == ENOTSOCK,
        "pipe fd: want ENOTSOCK, got %s", strerror(errno));
  close(p[0]), close(p[1]);
  fd = tcp_socket(AF_INET, 0);
  CHECK(connect(fd, NULL, 0) == -1, "NULL address should fail");
  close(fd);
  /* A v4 address on a v6 socket and vice versa: the kernel's EAFNOSUPPORT / EINVAL, never a redirect. */
  fd = tcp_socket(AF_INET6, 0);
  CHECK(connect(fd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)) == -1, "AF_INET address on a v6 socket");
  close(fd);
  usleep(20000);
  CHECK(outbound_count() == before, "a bad connect reached the outbound listener");
}

/* close + fd reuse: the getpeername table must never answer for a socket it did not record. */
static void case_fd_reuse(void) {
  for (int i = 0; i < 100; i++) {
    char ip[32], want[64];
    snprintf(ip, sizeof ip, "198.18.20.%d", i + 1);
    fmt_endpoint(ip, 2000 + i, want, sizeof want);
    int fd = tcp_socket(AF_INET, 0);
    CHECK(connect_to(fd, ip, 2000 + i) == 0, "connect: %s", strerror(errno));
    expect_redirect(fd, want, NULL);
    expect_peer(fd, want);
    /* The same fd number now names a new socket: dup2() closes the hooked one and reuses the number atomically
     * (close + socket() could race with the listener thread for the lowest free number).
     * The new socket is connected before it takes the number, so only the cookie can tell it from the old one:
     * a loopback connection straight to the outbound port, whose peer looks exactly like a redirect. */
    int fresh = tcp_socket(AF_INET, 0);
    CHECK(connect_to(fresh, "127.0.0.1", outbound_port) == 0, "direct loopback connect: %s", strerror(errno));
    CHECK(dup2(fresh, fd) == fd, "dup2: %s", strerror(errno));
    close(fresh);
    char direct[64];
    snprintf(direct, sizeof direct, "127.0.0.1:%d", outbound_port);
    expect_peer(fd, direct);

    /* The same fd number as a UDP socket. */
    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(connect_to(udp, "198.18.77.1", 53) == 0, "UDP connect: %s", strerror(errno));
    CHECK(dup2(udp, fd) == fd, "dup2: %s", strerror(errno));
    close(udp);
    expect_peer(fd, "198.18.77.1:53");
    close(fd);
  }
  /* Disconnect (AF_UNSPEC) a hooked socket, then reconnect it elsewhere: the old destination must be gone. */
  int fd = tcp_socket(AF_INET, 0);
  CHECK(connect_to(fd, "198.18.21.1", 80) == 0, "connect: %s", strerror(errno));
  expect_redirect(fd, "198.18.21.1:80", NULL);
  struct sockaddr unspec = {.sa_family = AF_UNSPEC};
  CHECK(connect(fd, &unspec, sizeof unspec) == 0, "AF_UNSPEC on TCP: %s", strerror(errno));
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  CHECK(getpeername(fd, (struct sockaddr *)&ss, &len) == -1 && errno == ENOTCONN, "after AF_UNSPEC: want ENOTCONN");
  CHECK(connect_to(fd, "127.0.0.1", loopback_port) == 0, "reconnect after AF_UNSPEC: %s", strerror(errno));
  char want[64];
  snprintf(want, sizeof want, "127.0.0.1:%d", loopback_port);
  expect_peer(fd, want);
  close(fd);
}

#define N_THREADS 32
#define N_PER_THREAD 500

struct worker {
  int index;
  int done;
  char error[300];
};

static void *worker_main(void *arg) {
  struct worker *w = arg;
  for (int i = 0; i < N_PER_THREAD; i++) {
    char ip[64], want[80];
    int v6 = w->index % 4 == 3;
    if (v6) snprintf(ip, sizeof ip, "2001:db8:%x::%x", w->index, i + 1);
    else snprintf(ip, sizeof ip, "198.18.%d.%d", 100 + w->index, i % 250 + 1);
    int port = 1024 + i;
    fmt_endpoint(ip, port, want, sizeof want);
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | (i % 3 == 0 ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) {
      snprintf(w->error, sizeof w->error, "socket: %s", strerror(errno));
      return NULL;
    }
    int rc = connect_to(fd, ip, port);
    if (rc != 0 && !(errno == EINPROGRESS && wait_connected(fd) == 0)) {
      snprintf(w->error, sizeof w->error, "connect %s: %s", want, strerror(errno));
      close(fd);
      return NULL;
    }
    char line[600], dst[80];
    if (read_line(fd, line, sizeof line, 5000) != 0) {
      snprintf(w->error, sizeof w->error, "no answer for %s", want);
      close(fd);
      return NULL;
    }
    field(line, "dst=", dst, sizeof dst);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char peer[80] = "?";
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) fmt_sockaddr((struct sockaddr *)&ss, peer, sizeof peer);
    close(fd);
    if (strcmp(dst, want) != 0 || strcmp(peer, want) != 0) {
      snprintf(w->error, sizeof w->error, "thread %d connect %d: wanted %s, header said %s, getpeername %s", w->index,
               i, want, dst, peer);
      return NULL;
    }
    w->done++;
  }
  return NULL;
}

static void case_threads(void) {
  int before = outbound_count();
  pthread_t t[N_THREADS];
  struct worker w[N_THREADS];
  uint64_t start = now_ms();
  for (int i = 0; i < N_THREADS; i++) {
    memset(&w[i], 0, sizeof w[i]);
    w[i].index = i;
    CHECK(pthread_create(&t[i], NULL, worker_main, &w[i]) == 0, "pthread_create");
  }
  int total = 0;
  for (int i = 0; i < N_THREADS; i++) {
    pthread_join(t[i], NULL);
    CHECK(w[i].error[0] == 0, "%s", w[i].error);
    total += w[i].done;
  }
  CHECK(total == N_THREADS * N_PER_THREAD, "%d of %d connects done", total, N_THREADS * N_PER_THREAD);
  CHECK(outbound_count() - before == total, "listener accepted %d connections for %d connects",
        outbound_count() - before, total);
  printf("info threads: %d connects in %llu ms\n", total, (unsigned long long)(now_ms() - start));
}

static void child_connect_and_exit(const char *ip, int port) {
  char want[80];
  fmt_endpoint(ip, port, want, sizeof want);
  int fd = tcp_socket(AF_INET, 0);
  CHECK(connect_to(fd, ip, port) == 0, "child connect: %s", strerror(errno));
  struct reply r;
  expect_redirect(fd, want, &r);
  check_identity(&r);
  expect_peer(fd, want);
  close(fd);
}

static void expect_child_ok(pid_t pid, const char *what) {
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid, "waitpid: %s", strerror(errno));
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s child failed (status 0x%x)", what, status);
}

static void case_fork(void) {
  /* A socket hooked before fork() keeps its getpeername answer in the child. */
  int inherited = tcp_socket(AF_INET, 0);
  CHECK(connect_to(inherited, "198.18.30.1", 80) == 0, "connect: %s", strerror(errno));
  expect_redirect(inherited, "198.18.30.1:80", NULL);
  pid_t pid = fork();
  CHECK(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0) {
    current_case = "fork(child)";
    expect_peer(inherited, "198.18.30.1:80");
    child_connect_and_exit("198.18.30.2", 81);
    _exit(0);
  }
  expect_child_ok(pid, "fork");
  close(inherited);
  child_connect_and_exit("198.18.30.3", 82); /* the parent still works after fork */
}

static void case_exec(void) {
  static char *argv_child[] = {"hook_test", "exec_child", NULL};
  pid_t pid = fork();
  CHECK(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0) {
    execv("/proc/self/exe", argv_child);
    _exit(127);
  }
  expect_child_ok(pid, "fork+exec");
  pid = vfork();
  CHECK(pid >= 0, "vfork: %s", strerror(errno));
  if (pid == 0) {
    execv("/proc/self/exe", argv_child);
    _exit(127);
  }
  expect_child_ok(pid, "vfork+exec");
}

/* Runs in the exec'd child: the hook must be loaded again (LD_PRELOAD inherited) and hook this process. */
static void case_exec_child(void) { child_connect_and_exit("198.18.31.1", 80); }

static void case_tfo(void) {
  char line[200];
  /* sendto(MSG_FASTOPEN) on a fresh socket: connect + data in one call. */
  int fd = tcp_socket(AF_INET, 0);
  struct sockaddr_storage ss;
  socklen_t len = make_addr("198.18.40.1", 7, &ss);
  CHECK(sendto(fd, "hello\n", 6, MSG_FASTOPEN, (struct sockaddr *)&ss, len) == 6, "sendto(MSG_FASTOPEN): %s",
        strerror(errno));
  expect_redirect(fd, "198.18.40.1:7", NULL);
  CHECK(read_line(fd, line, sizeof line, 3000) == 0 && strcmp(line, "hello") == 0, "TFO data not echoed: %s", line);
  expect_peer(fd, "198.18.40.1:7");
  close(fd);
  /* sendmsg(MSG_FASTOPEN) with msg_name, non-blocking, IPv6. */
  fd = tcp_socket(AF_INET6, SOCK_NONBLOCK);
  len = make_addr("2001:db8::40", 7, &ss);
  struct iovec iov = {.iov_base = "world\n", .iov_len = 6};
  struct msghdr msg = {.msg_name = &ss, .msg_namelen = len, .msg_iov = &iov, .msg_iovlen = 1};
  CHECK(sendmsg(fd, &msg, MSG_FASTOPEN) == 6, "sendmsg(MSG_FASTOPEN): %s", strerror(errno));
  expect_redirect(fd, "[2001:db8::40]:7", NULL);
  CHECK(read_line(fd, line, sizeof line, 3000) == 0 && strcmp(line, "world") == 0, "TFO sendmsg data not echoed: %s",
        line);
  expect_peer(fd, "[2001:db8::40]:7");
  close(fd);
  /* TCP_FASTOPEN_CONNECT: connect() returns at once and the handshake happens on the first write (the header). */
  for (int nonblock = 0; nonblock <= 1; nonblock++) {
    fd = tcp_socket(AF_INET, nonblock ? SOCK_NONBLOCK : 0);
    int one = 1;
    CHECK(setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &one, sizeof one) == 0, "TCP_FASTOPEN_CONNECT: %s",
          strerror(errno));
    int rc = connect_to(fd, "198.18.40.2", 7);
    CHECK(rc == 0 || errno == EINPROGRESS, "connect with TCP_FASTOPEN_CONNECT: %s", strerror(errno));
    if (rc != 0) CHECK(wait_connected(fd) == 0, "TCP_FASTOPEN_CONNECT connect did not complete");
    send_all(fd, "tfo\n", 4);
    expect_redirect(fd, "198.18.40.2:7", NULL);
    CHECK(read_line(fd, line, sizeof line, 3000) == 0 && strcmp(line, "tfo") == 0, "TFO_CONNECT data not echoed");
    close(fd);
  }
  /* MSG_FASTOPEN on a connected socket: the kernel's EISCONN. */
  fd = tcp_socket(AF_INET, 0);
  CHECK(connect_to(fd, "198.18.40.3", 80) == 0, "connect: %s", strerror(errno));
  len = make_addr("198.18.40.3", 80, &ss);
  CHECK(sendto(fd, "x", 1, MSG_FASTOPEN, (struct sockaddr *)&ss, len) == -1 && errno == EISCONN,
        "MSG_FASTOPEN on a connected socket: want EISCONN, got %s", strerror(errno));
  close(fd);
}

/* An app that binds its source address first: the redirect must still work and the header names that source. */
static void case_bound_source(void) {
  const char *addrs[2] = {direct_addr, getenv("HOOK_TEST_DIRECT_ADDR6")};
  for (int i = 0; i < 2; i++) {
    if (addrs[i] == NULL) fail("HOOK_TEST_DIRECT_ADDR%s not set", i ? "6" : "");
    struct sockaddr_storage src;
    socklen_t sl = make_addr(addrs[i], 0, &src);
    int fd = tcp_socket(src.ss_family, 0);
    CHECK(bind(fd, (struct sockaddr *)&src, sl) == 0, "bind %s: %s", addrs[i], strerror(errno));
    const char *dst = i ? "2001:db8::99" : "198.18.9.99";
    CHECK(connect_to(fd, dst, 443) == 0, "connect from bound %s: %s", addrs[i], strerror(errno));
    char want[80], me[80];
    fmt_endpoint(dst, 443, want, sizeof want);
    struct reply r;
    expect_redirect(fd, want, &r);
    struct sockaddr_storage local;
    socklen_t ll = sizeof local;
    getsockname(fd, (struct sockaddr *)&local, &ll);
    fmt_sockaddr((struct sockaddr *)&local, me, sizeof me);
    CHECK(strcmp(r.src, me) == 0, "header src %s, socket bound to %s", r.src, me);
    CHECK(strncmp(me, i ? "[2001:db8::" : "198.18.", i ? 11 : 7) == 0, "the bound source %s was not kept", me);
    expect_peer(fd, want);
    close(fd);
  }
}

/* The listener for eintr_slow: after a pause it drains the full accept queue, then serves the hooked connection. */
static int slow_listener;
static void *slow_acceptor(void *arg) {
  (void)arg;
  sigset_t alrm;
  sigemptyset(&alrm);
  sigaddset(&alrm, SIGALRM);
  pthread_sigmask(SIG_BLOCK, &alrm, NULL);
  usleep(300000);
  close(accept(slow_listener, NULL, NULL)); /* the filler */
  int c = accept(slow_listener, NULL, NULL);
  __atomic_fetch_add(&accepted_outbound, 1, __ATOMIC_SEQ_CST);
  serve_outbound(c);
  close(c);
  return NULL;
}

/*
 * A slow loopback handshake under a signal storm (HOOK_TEST_LISTENER=none). The outbound listener's accept queue
 * is full, so the kernel drops the SYN and retransmits it after about a second: a blocking connect() sleeps and is
 * interrupted. Control: a plain loopback connect in that state does return EINTR. Then the hooked connect must
 * still return 0 with the header written — the hook waits out the interrupted handshake itself.
 */
static void case_eintr_slow(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, NULL);
  slow_listener = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(slow_listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_storage ss;
  socklen_t len = make_addr("0.0.0.0", outbound_port, &ss);
  CHECK(bind(slow_listener, (struct sockaddr *)&ss, len) == 0 && listen(slow_listener, 0) == 0, "listen: %s", strerror(errno));
  int filler = tcp_socket(AF_INET, SOCK_NONBLOCK);
  connect_to(filler, "127.0.0.1", outbound_port);
  CHECK(wait_connected(filler) == 0, "filler connection failed");

  struct itimerval storm = {.it_interval = {0, 200}, .it_value = {0, 200}}, off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &storm, NULL);
  int control = tcp_socket(AF_INET, 0);
  int rc = connect_to(control, "127.0.0.1", outbound_port);
  int control_errno = errno;
  setitimer(ITIMER_REAL, &off, NULL);
  close(control);
  CHECK(rc == -1 && control_errno == EINTR, "setup: a plain connect to a full accept queue gave %d/%s, not EINTR", rc,
        strerror(control_errno));

  pthread_t t;
  pthread_create(&t, NULL, slow_acceptor, NULL);
  int before = (int)signals_seen;
  setitimer(ITIMER_REAL, &storm, NULL);
  uint64_t t0 = now_ms();
  int fd = tcp_socket(AF_INET, 0);
  errno = 0;
  rc = connect_to(fd, "198.18.9.9", 80);
  int err = errno;
  uint64_t took = now_ms() - t0;
  setitimer(ITIMER_REAL, &off, NULL);
  CHECK(rc == 0, "hooked connect through an interrupted handshake returned %d/%s", rc, strerror(err));
  CHECK(took >= 500, "the handshake was not slow (%llu ms): the test did not exercise the interrupted path",
        (unsigned long long)took);
  CHECK((int)signals_seen - before > 100, "no signal storm during the hooked connect");
  expect_redirect(fd, "198.18.9.9:80", NULL);
  expect_peer(fd, "198.18.9.9:80");
  close(fd);
  pthread_join(t, NULL);
  close(filler);
  printf("info eintr_slow: hooked connect took %llu ms under %d signals\n", (unsigned long long)took,
         (int)signals_seen - before);
}

/* SO_BINDTODEVICE to the pod's interface: lo is unreachable for it, so the hook leaves it alone — a real direct
 * connection to the pod's own address, as without the hook. */
static void case_bound_device(void) {
  const char *dev = getenv("HOOK_TEST_DEVICE");
  CHECK(dev != NULL && direct_addr != NULL, "HOOK_TEST_DEVICE / HOOK_TEST_DIRECT_ADDR not set");
  int before = outbound_count();
  for (int nonblock = 0; nonblock <= 1; nonblock++) {
    int fd = tcp_socket(AF_INET, nonblock ? SOCK_NONBLOCK : 0);
    CHECK(setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, (socklen_t)strlen(dev)) == 0, "SO_BINDTODEVICE %s: %s", dev,
          strerror(errno));
    int rc = connect_to(fd, direct_addr, direct_port);
    if (rc != 0) {
      CHECK(nonblock && errno == EINPROGRESS, "device-bound connect: %s", strerror(errno));
      CHECK(wait_connected(fd) == 0, "device-bound connect did not complete");
    }
    char want[64];
    fmt_endpoint(direct_addr, direct_port, want, sizeof want);
    expect_direct(fd, "device-bound socket");
    expect_peer(fd, want);
    close(fd);
  }
  CHECK(outbound_count() == before, "a device-bound socket was redirected");
}

/* ---- cases for special environments (the TS test sets the variables) ---- */

static void case_direct(void) { /* expects the hook to leave direct_addr:direct_port alone */
  int before = outbound_count();
  char want[64];
  fmt_endpoint(direct_addr, direct_port, want, sizeof want);
  int fd = tcp_socket(AF_INET, 0);
  CHECK(connect_to(fd, direct_addr, direct_port) == 0, "connect %s: %s", want, strerror(errno));
  expect_direct(fd, want);
  expect_peer(fd, want);
  close(fd);
  CHECK(outbound_count() == before, "the connection to %s was redirected", want);
}

static void case_redirected(void) { /* the counterpart: an ordinary destination is still redirected */
  hooked_roundtrip(AF_INET, 0, "198.18.9.9", 80, NULL);
}

static void case_redirected_vip(void) { hooked_roundtrip(AF_INET, 0, "198.19.1.1", 80, NULL); }

static void case_proxy_port(void) {
  int fd = tcp_socket(AF_INET, 0);
  CHECK(connect_to(fd, direct_addr, 15021) == 0, "connect to a proxy port: %s", strerror(errno));
  expect_direct(fd, "proxy port 15021");
  close(fd);
}

static void case_down_closed(void) {
  for (int nonblock = 0; nonblock <= 1; nonblock++) {
    int fd = tcp_socket(AF_INET, nonblock ? SOCK_NONBLOCK : 0);
    uint64_t t0 = now_ms();
    errno = 0;
    int rc = connect_to(fd, "198.18.9.9", 80);
    CHECK(rc == -1 && errno == ECONNREFUSED, "policy closed: want -1/ECONNREFUSED, got %d/%s", rc, strerror(errno));
    CHECK(now_ms() - t0 < 1000, "policy closed took %llu ms", (unsigned long long)(now_ms() - t0));
    /* The socket is left reusable, as after a refused connect without the hook. */
    CHECK(connect_to(fd, "127.0.0.1", loopback_port) == 0 || errno == EINPROGRESS, "reuse after refusal: %s",
          strerror(errno));
    if (nonblock) CHECK(wait_connected(fd) == 0, "reuse after refusal did not complete");
    expect_direct(fd, "reused socket");
    close(fd);
  }
  int fd = tcp_socket(AF_INET, 0);
  struct sockaddr_storage ss;
  socklen_t len = make_addr("198.18.9.9", 80, &ss);
  CHECK(sendto(fd, "x", 1, MSG_FASTOPEN, (struct sockaddr *)&ss, len) == -1 && errno == ECONNREFUSED,
        "TFO with policy closed: want ECONNREFUSED, got %s", strerror(errno));
  close(fd);
}

static void case_down_wait(void) { /* HOOK_TEST_LISTENER=delay:400, policy wait:4000 */
  uint64_t t0 = now_ms();
  int fd = tcp_socket(AF_INET, 0);
  CHECK(connect_to(fd, "198.18.9.9", 80) == 0, "policy wait: connect failed with %s after %llu ms", strerror(errno),
        (unsigned long long)(now_ms() - t0));
  uint64_t took = now_ms() - t0;
  expect_redirect(fd, "198.18.9.9:80", NULL);
  close(fd);
  CHECK(took >= 300, "connect succeeded after %llu ms, before the listener existed", (unsigned long long)took);
  printf("info down_wait: connected after %llu ms\n", (unsigned long long)took);
}

static void case_down_wait_expires(void) { /* no listener, policy wait:300 */
  uint64_t t0 = now_ms();
  int fd = tcp_socket(AF_INET, SOCK_NONBLOCK);
  errno = 0;
  CHECK(connect_to(fd, "198.18.9.9", 80) == -1 && errno == ECONNREFUSED, "wait expired: want ECONNREFUSED, got %s",
        strerror(errno));
  uint64_t took = now_ms() - t0;
  CHECK(took >= 280 && took < 3000, "wait:300 gave up after %llu ms", (unsigned long long)took);
  close(fd);
}

static void case_down_open(void) { /* no outbound listener, policy open: a real direct connection */
  char want[64];
  fmt_endpoint(direct_addr, direct_port, want, sizeof want);
  for (int nonblock = 0; nonblock <= 1; nonblock++) {
    int fd = tcp_socket(AF_INET, nonblock ? SOCK_NONBLOCK : 0);
    int rc = connect_to(fd, direct_addr, direct_port);
    if (nonblock) {
      CHECK(rc == -1 && errno == EINPROGRESS, "open, non-blocking: want EINPROGRESS, got %s", strerror(errno));
      CHECK(wait_connected(fd) == 0, "open, non-blocking: direct connect failed");
    } else {
      CHECK(rc == 0, "open: direct connect failed: %s", strerror(errno));
    }
    expect_direct(fd, want);
    expect_peer(fd, want);
    close(fd);
  }
  int fd = tcp_socket(AF_INET, 0);
  struct sockaddr_storage ss;
  socklen_t len = make_addr(direct_addr, direct_port, &ss);
  char line[200];
  CHECK(sendto(fd, "PING\n", 5, MSG_FASTOPEN, (struct sockaddr *)&ss, len) == 5, "open, TFO: %s", strerror(errno));
  CHECK(read_line(fd, line, sizeof line, 3000) == 0 && strncmp(line, "DIRECT ", 7) == 0, "open, TFO: got %s", line);
  CHECK(read_line(fd, line, sizeof line, 3000) == 0 && strcmp(line, "PING") == 0, "open, TFO echo: got %s", line);
  close(fd);
}

/* Setuid root, run by an unprivileged user: ld.so drops LD_PRELOAD, so dlopen the hook and call its connect()
 * directly; in secure-execution mode it must ignore the SIDELANE_* environment and pass everything through. */
static void case_secure(void) {
  CHECK(getauxval(AT_SECURE) != 0, "not in secure-execution mode (setup error)");
  const char *lib = getenv("HOOK_TEST_LIB");
  CHECK(lib != NULL, "HOOK_TEST_LIB not set");
  void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  CHECK(h != NULL, "dlopen %s: %s", lib, dlerror());
  int (*hook_connect)(int, const struct sockaddr *, socklen_t) = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(h, "connect");
  CHECK(hook_connect != NULL && (void *)hook_connect != (void *)connect, "the hook's connect was not found");
  int before = outbound_count();
  struct sockaddr_storage ss;
  socklen_t len = make_addr(direct_addr, direct_port, &ss);
  int fd = tcp_socket(AF_INET, 0);
  CHECK(hook_connect(fd, (struct sockaddr *)&ss, len) == 0, "connect: %s", strerror(errno));
  expect_direct(fd, "secure-execution process");
  close(fd);
  CHECK(outbound_count() == before, "the hook redirected in a setuid process");
}

/* Secure execution with the hook really preloaded by ld.so (from /etc/ld.so.preload, which ld.so honours even for
 * setuid programs): the constructor ran, saw AT_SECURE and stayed inert, so a plain connect() goes direct. */
static int hook_preloaded(void);

static void case_secure_preloaded(void) {
  CHECK(getauxval(AT_SECURE) != 0, "not in secure-execution mode (setup error)");
  CHECK(hook_preloaded(), "the hook is not preloaded (setup error: /etc/ld.so.preload)");
  int before = outbound_count();
  struct sockaddr_storage ss;
  socklen_t len = make_addr(direct_addr, direct_port, &ss);
  int fd = tcp_socket(AF_INET, 0);
  CHECK(connect(fd, (struct sockaddr *)&ss, len) == 0, "connect: %s", strerror(errno));
  expect_direct(fd, "secure-execution process, hook preloaded");
  char want[80];
  fmt_sockaddr((struct sockaddr *)&ss, want, sizeof want);
  expect_peer(fd, want);
  close(fd);
  CHECK(outbound_count() == before, "the hook redirected in a secure-execution process");
}

struct test_case {
  const char *name;
  void (*fn)(void);
};

static const struct test_case cases[] = {
    {"blocking_v4", case_blocking_v4},
    {"nonblocking_v4", case_nonblocking_v4},
    {"eintr", case_eintr},
    {"eintr_slow", case_eintr_slow},
    {"ipv6", case_ipv6},
    {"v6only", case_v6only},
    {"v4mapped", case_v4mapped},
    {"spread", case_spread},
    {"udp", case_udp},
    {"unix", case_unix},
    {"loopback", case_loopback},
    {"bad_args", case_bad_args},
    {"fd_reuse", case_fd_reuse},
    {"threads", case_threads},
    {"fork", case_fork},
    {"exec", case_exec},
    {"exec_child", case_exec_child},
    {"tfo", case_tfo},
    {"bound_source", case_bound_source},
    {"bound_device", case_bound_device},
    {"direct", case_direct},
    {"redirected", case_redirected},
    {"redirected_vip", case_redirected_vip},
    {"proxy_port", case_proxy_port},
    {"down_closed", case_down_closed},
    {"down_wait", case_down_wait},
    {"down_wait_expires", case_down_wait_expires},
    {"down_open", case_down_open},
    {"secure", case_secure},
    {"secure_preloaded", case_secure_preloaded},
};

/* Guard: unless a case loads the hook itself, refuse to run without it, so no connect can leave unredirected. */
static int hook_preloaded(void) {
  Dl_info info;
  void *sym = dlsym(RTLD_DEFAULT, "connect");
  return sym != NULL && dladdr(sym, &info) != 0 && info.dli_fname != NULL &&
         strstr(info.dli_fname, "libsidelane_hook") != NULL;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);
  prctl(PR_GET_NAME, proc_name);
  const char *p = getenv("SIDELANE_OUTBOUND_PORT");
  if (p != NULL && *p) outbound_port = atoi(p);
  direct_addr = getenv("HOOK_TEST_DIRECT_ADDR");
  p = getenv("HOOK_TEST_DIRECT_PORT");
  direct_port = p ? atoi(p) : 18080;
  int secure = argc == 2 && strcmp(argv[1], "secure") == 0;
  if (!secure && !hook_preloaded()) {
    printf("FAIL setup: libsidelane_hook.so is not preloaded (LD_PRELOAD=%s)\n", getenv("LD_PRELOAD"));
    return 1;
  }
  /* The listener threads never take SIGALRM: the eintr case's storm must hit the connecting thread. */
  sigset_t alrm, old;
  sigemptyset(&alrm);
  sigaddset(&alrm, SIGALRM);
  pthread_sigmask(SIG_BLOCK, &alrm, &old);
  if (strcmp(argv[argc - 1], "exec_child") != 0) start_listeners(); /* an exec'd child uses its parent's */
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  for (int i = 1; i < argc; i++) {
    const struct test_case *c = NULL;
    for (size_t j = 0; j < sizeof cases / sizeof cases[0]; j++)
      if (strcmp(cases[j].name, argv[i]) == 0) c = &cases[j];
    if (c == NULL) {
      printf("FAIL %s: no such case\n", argv[i]);
      return 1;
    }
    current_case = c->name;
    c->fn();
    printf("ok %s\n", c->name);
  }
  return 0;
}
