/*
 * The connect() micro-benchmark's client (driven by scripts/bench-hook-connect.ts, which compiles it and runs every
 * mode in a throwaway network namespace that has nothing but lo). Times connect() — and for the non-blocking mode
 * connect + poll until writable — over N iterations against its own loopback listener, and prints one line:
 *   RESULT <mode> <n> <mean_ns> <p50_ns> <p90_ns> <p99_ns> <loop_ms>
 * Modes: plain (127.0.0.1, no hook), plain-write (the same plus sending a header-sized buffer itself),
 * hooked (LD_PRELOAD: 198.18.9.9:80 redirected + PROXY v2 header), hooked-nonblocking, hooked-passthrough
 * (LD_PRELOAD, loopback destination: the cost of deciding not to redirect).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int listen_fd;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *acceptor(void *arg) {
  (void)arg;
  char buf[256];
  for (;;) {
    int c = accept(listen_fd, NULL, NULL);
    if (c < 0) continue;
    /* Read what arrived (a header) so close() ends with FIN, not RST. */
    recv(c, buf, sizeof buf, MSG_DONTWAIT);
    close(c);
  }
  return NULL;
}

static int cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int hook_loaded(void) {
  Dl_info info;
  void *sym = dlsym(RTLD_DEFAULT, "connect");
  return sym && dladdr(sym, &info) && info.dli_fname && strstr(info.dli_fname, "libsidelane_hook");
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s MODE N\n", argv[0]);
    return 2;
  }
  const char *mode = argv[1];
  int n = atoi(argv[2]);
  int hooked = strncmp(mode, "hooked", 6) == 0;
  if (hooked != hook_loaded()) {
    fprintf(stderr, "mode %s needs the hook %s\n", mode, hooked ? "preloaded" : "not preloaded");
    return 1;
  }
  int port = atoi(getenv("SIDELANE_OUTBOUND_PORT") ? getenv("SIDELANE_OUTBOUND_PORT") : "15001");
  listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (bind(listen_fd, (struct sockaddr *)&any, sizeof any) != 0 || listen(listen_fd, 4096) != 0) {
    perror("listen");
    return 1;
  }
  pthread_t t;
  pthread_create(&t, NULL, acceptor, NULL);

  struct sockaddr_in dst = {.sin_family = AF_INET};
  if (strcmp(mode, "hooked") == 0 || strcmp(mode, "hooked-nonblocking") == 0) {
    inet_pton(AF_INET, "198.18.9.9", &dst.sin_addr);
    dst.sin_port = htons(80);
  } else {
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    dst.sin_port = htons((uint16_t)port);
  }
  int nonblocking = strcmp(mode, "hooked-nonblocking") == 0;
  int write_header = strcmp(mode, "plain-write") == 0;
  static const char header[79] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x11};

  uint64_t *samples = calloc((size_t)n, sizeof *samples);
  uint64_t loop0 = now_ns();
  for (int i = 0; i < n; i++) {
    int fd = socket(AF_INET, SOCK_STREAM | (nonblocking ? SOCK_NONBLOCK : 0), 0);
    uint64_t t0 = now_ns();
    int rc = connect(fd, (struct sockaddr *)&dst, sizeof dst);
    if (rc != 0 && errno == EINPROGRESS) {
      struct pollfd p = {.fd = fd, .events = POLLOUT};
      poll(&p, 1, 5000);
      rc = 0;
    }
    if (rc == 0 && write_header) rc = send(fd, header, sizeof header, MSG_NOSIGNAL) == (ssize_t)sizeof header ? 0 : -1;
    samples[i] = now_ns() - t0;
    if (rc != 0) {
      fprintf(stderr, "%s: connect %d failed: %s\n", mode, i, strerror(errno));
      return 1;
    }
    close(fd);
  }
  uint64_t loop_ms = (now_ns() - loop0) / 1000000u;
  uint64_t sum = 0;
  for (int i = 0; i < n; i++) sum += samples[i];
  qsort(samples, (size_t)n, sizeof *samples, cmp);
  printf("RESULT %s %d %llu %llu %llu %llu %llu\n", mode, n, (unsigned long long)(sum / (uint64_t)n),
         (unsigned long long)samples[n / 2], (unsigned long long)samples[n * 9 / 10], (unsigned long long)samples[n * 99 / 100],
         (unsigned long long)loop_ms);
  return 0;
}
