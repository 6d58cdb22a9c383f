/* Per-fd original destinations for getpeername() (see peer_table.h). Boehm's seqlock with try-lock writers. */
#include "peer_table.h"

#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#define SL_PEER_TABLE_MAX (1u << 20)
#define SL_ADDR_WORDS 4 /* 32 bytes hold a sockaddr_in6 (28) */
#define SL_READ_RETRIES 64

struct slot {
  uint32_t seq; /* odd while a writer is inside */
  uint32_t len; /* sockaddr length, 0 = empty */
  uint64_t cookie;
  uint64_t addr[SL_ADDR_WORDS];
};

static struct slot *table;
static size_t table_size;

void sl_peer_table_init(void) {
  struct rlimit rl;
  size_t n = SL_PEER_TABLE_MAX;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY && rl.rlim_max < n) n = (size_t)rl.rlim_max;
  /* MAP_NORESERVE + anonymous zero pages: only slots of fds actually hooked cost memory. */
  void *p = mmap(NULL, n * sizeof(struct slot), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return;
  table = p;
  table_size = n;
}

static struct slot *slot_of(int fd) {
  if (table == NULL || fd < 0 || (size_t)fd >= table_size) return NULL;
  return &table[fd];
}

/* Takes the slot's write side or returns 0 (another writer — or the code this signal handler interrupted — has it). */
static int write_begin(struct slot *s, uint32_t *seq) {
  uint32_t cur = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
  if (cur & 1) return 0;
  if (!__atomic_compare_exchange_n(&s->seq, &cur, cur + 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return 0;
  __atomic_thread_fence(__ATOMIC_RELEASE);
  *seq = cur + 2;
  return 1;
}

static void write_end(struct slot *s, uint32_t seq) { __atomic_store_n(&s->seq, seq, __ATOMIC_RELEASE); }

void sl_peer_table_put(int fd, uint64_t cookie, const struct sockaddr *addr, socklen_t len) {
  struct slot *s = slot_of(fd);
  uint32_t seq;
  if (s == NULL || len > sizeof s->addr || !write_begin(s, &seq)) return;
  uint64_t words[SL_ADDR_WORDS] = {0};
  memcpy(words, addr, len);
  for (int i = 0; i < SL_ADDR_WORDS; i++) __atomic_store_n(&s->addr[i], words[i], __ATOMIC_RELAXED);
  __atomic_store_n(&s->cookie, cookie, __ATOMIC_RELAXED);
  __atomic_store_n(&s->len, (uint32_t)len, __ATOMIC_RELAXED);
  write_end(s, seq);
}

void sl_peer_table_clear(int fd) {
  struct slot *s = slot_of(fd);
  uint32_t seq;
  if (s == NULL || __atomic_load_n(&s->len, __ATOMIC_RELAXED) == 0 || !write_begin(s, &seq)) return;
  __atomic_store_n(&s->len, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&s->cookie, 0, __ATOMIC_RELAXED);
  write_end(s, seq);
}

int sl_peer_table_maybe(int fd) {
  struct slot *s = slot_of(fd);
  return s != NULL && __atomic_load_n(&s->len, __ATOMIC_RELAXED) != 0;
}

int sl_peer_table_get(int fd, uint64_t cookie, struct sockaddr_in6 *out, socklen_t *len) {
  struct slot *s = slot_of(fd);
  if (s == NULL) return 0;
  /* Bounded: a signal handler reading the slot its own thread is writing must not spin forever. */
  for (int attempt = 0; attempt < SL_READ_RETRIES; attempt++) {
    uint32_t before = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
    if (before & 1) continue;
    uint64_t words[SL_ADDR_WORDS];
    for (int i = 0; i < SL_ADDR_WORDS; i++) words[i] = __atomic_load_n(&s->addr[i], __ATOMIC_RELAXED);
    uint64_t c = __atomic_load_n(&s->cookie, __ATOMIC_RELAXED);
    uint32_t l = __atomic_load_n(&s->len, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) != before) continue;
    if (l == 0 || c != cookie) return 0;
    memcpy(out, words, sizeof *out);
    *len = l;
    return 1;
  }
  return 0;
}
