// The native relay (see relay.h; design, guarantees and numbers in docs/performance.md).
//
// Threads: N workers, each with its own epoll set (edge-triggered; every fd is registered once with
// IN|PRI|OUT|RDHUP, so no epoll_ctl is needed while bytes flow) and an eventfd for commands from the JS thread.
// A relay lives on one worker for its whole life; nothing about it is shared between threads except the
// handover (inbox, under a mutex) and the completion queue (under a mutex, drained by JS in batches through one
// threadsafe function).
//
// Per direction, small transfers are copied: recv into a 16 KiB buffer taken from the worker's pool, send, and the
// buffer goes back as soon as it is empty. A read that fills the buffer marks the direction as bulk, and from then
// on its bytes move source socket -> pipe -> destination socket with splice(2) (as HAProxy's splice-auto: for a
// request or a response of a few hundred bytes, two copies cost less than moving page references through a pipe,
// and a short read tells the relay the socket is drained, which splice cannot). A pipe, too, is taken from the
// pool when bytes arrive and returned as soon as it is empty, so an idle connection holds its two sockets and
// ~200 bytes of bookkeeping, not six fds. The buffer's or the pipe's capacity is the buffering bound: once it is
// full the relay stops reading that source, the kernel's receive window closes, and the sender is slowed down.
// When splice is not possible (no pipe can be created, or the kernel refuses splice for a socket) a bulk
// direction stays with the copy.
#include "relay.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "errors.h"

namespace sidelane {
namespace {

// End reasons; the numbering is shared with RELAY_ENDS in src/native/addon.ts.
enum EndCode : uint8_t {
  kClosed = 0,
  kDownstreamReset = 1,
  kUpstreamReset = 2,
  kIdleTimeout = 3,
  kDownstreamError = 4,
  kUpstreamError = 5,
  kAborted = 6,
};

constexpr int kDown = 0;  // side index: the downstream socket; also the direction downstream -> upstream
constexpr int kUp = 1;    // side index: the upstream socket; also the direction upstream -> downstream
constexpr uint32_t kCopyBufferSize = 16 * 1024;
// Rounds of work on one relay per wake-up before it yields to the other relays of its thread (fairness: a fast
// bulk transfer must not starve interactive connections).
constexpr int kPumpBudget = 16;
constexpr int kMaxEvents = 256;
constexpr size_t kMaxPooledBuffers = 64;
constexpr int kCompletionFields = 5;  // id, bytesUp, bytesDown, end, durationMs

uint64_t NowMs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000u + static_cast<uint64_t>(ts.tv_nsec) / 1000000u;
}

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

bool IsReset(int err) { return err == ECONNRESET || err == EPIPE || err == ECONNABORTED; }

int SocketError(int fd) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

// SO_LINGER {1, 0} makes close() send RST and drop unsent data: how a reset is passed on to the other side.
void ResetAndClose(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  close(fd);
}

struct Stats {
  std::atomic<int64_t> active{0};
  std::atomic<int64_t> pipes_in_use{0};
  std::atomic<int64_t> pipes_pooled{0};
  std::atomic<int64_t> buffers_in_use{0};
  std::atomic<uint64_t> started{0};
  std::atomic<uint64_t> completed{0};
  std::atomic<uint64_t> copy_fallbacks{0};
  std::atomic<uint64_t> spliced_directions{0};
  std::atomic<uint64_t> pipes_grown{0};
  std::atomic<int64_t> bulk_pipes{0};
};

// One direction of a relay: what is in flight from its source towards its destination.
struct Direction {
  int pipe_r = -1;  // attached pipe (only while bytes are in it)
  int pipe_w = -1;
  uint32_t in_pipe = 0;
  uint32_t pipe_cap = 0;   // the attached pipe's capacity
  uint32_t pipe_base = 0;  // its capacity before it was grown for bulk (0: not grown)
  char* buf = nullptr;  // user-space bytes: initial bytes handed over by JS, or the copy buffer
  uint32_t buf_off = 0;
  uint32_t buf_len = 0;
  uint32_t buf_cap = 0;
  bool bulk = false;  // splice from now on: a read filled the copy buffer (or spliceAlways, from the start)
  bool eof = false;   // the source sent FIN
  bool shut = false;  // FIN forwarded: shutdown(SHUT_WR) on the destination after the last byte
  uint64_t bytes = 0;  // delivered to the destination
};

struct Relay {
  uint64_t id = 0;
  int fd[2] = {-1, -1};
  Direction dir[2];
  uint64_t started_ns = 0;
  uint64_t last_active_ms = 0;
  uint32_t idle_ms = 0;
  // Edge-triggered readiness as last learned: set by an event, cleared by EAGAIN. Readability starts unknown: the
  // registration (EPOLL_CTL_ADD) reports what is already queued as the first event, so nothing is read blindly (a
  // fresh upstream has nothing to read yet: that EAGAIN was one system call per connection and side).
  bool readable[2] = {false, false};
  bool writable[2] = {true, true};
  bool rdhup[2] = {false, false};  // the side's FIN has arrived (EPOLLRDHUP): its stream ends after what is queued
  // The side has received TCP urgent data (EPOLLPRI). Reads stop at the urgent mark: a short read no longer proves
  // the socket drained, and splice cannot get past the mark at all (it returns EAGAIN there), so from then on that
  // side is read with recv until EAGAIN (which steps over the out-of-band byte, as every proxy's plain read does).
  bool urgent[2] = {false, false};
  bool copy_mode = false;
  bool queued = false;  // in the worker's ready list (budget used up, more to do)
  bool done = false;
};

struct Completion {
  uint64_t id;
  uint64_t up;
  uint64_t down;
  uint8_t end;
  double duration_ms;
};

struct Command {
  enum Kind : uint8_t { kAdd, kAbort } kind;
  Relay* relay;
  uint64_t id;
};

struct Config {
  int threads = 1;
  int pipe_size = 0;  // 0: the kernel's default (64 KiB)
  int bulk_pipe_size = 0;  // grow a pipe a source fills to this (0: never)
  size_t pipe_pool_max = 256;
  bool copy_mode = false;
  bool splice_always = false;  // splice from the first byte, not only once a direction proves to be bulk
};

class Engine;

class Worker {
 public:
  Worker(Engine* engine, int index) : engine_(engine), index_(index) {}
  ~Worker();
  int Init();  // returns 0 or an errno
  void Start() { thread_ = std::thread([this] { Run(); }); }
  void Post(const Command& c);
  void StopAndJoin();

 private:
  void Run();
  void DrainInbox();
  void Register(Relay* r);
  void Pump(Relay* r);
  bool Step(Relay* r, int d);
  void Fail(Relay* r, int side, int err);
  int SendBuffer(Relay* r, int d);
  void Finish(Relay* r, EndCode end);
  void Sweep();
  void Bury();
  bool AttachPipe(Direction* d);
  void GrowPipe(Direction* d);
  void ReleasePipe(Direction* d);
  bool AcquireBuffer(Direction* d);
  void ReleaseBuffer(Direction* d);

  Engine* engine_;
  int index_;
  int epfd_ = -1;
  int evfd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};

  std::mutex inbox_mu_;
  std::vector<Command> inbox_;
  bool wake_pending_ = false;

  // Worker-thread only below.
  std::unordered_map<uint64_t, Relay*> relays_;
  std::vector<Relay*> ready_;
  std::vector<Relay*> graveyard_;
  std::vector<Completion> done_;
  struct PooledPipe {
    int r;
    int w;
    uint32_t cap;
  };
  std::vector<PooledPipe> pipes_;
  std::vector<char*> buffers_;
  uint64_t now_ms_ = 0;
  uint64_t grow_retry_ms_ = 0;  // no pipe growth before this (the kernel refused the last one)
  size_t idle_relays_ = 0;
  uint32_t min_idle_ms_ = UINT32_MAX;
  uint64_t next_sweep_ms_ = UINT64_MAX;
};

class Engine {
 public:
  explicit Engine(const Config& c) : config(c) {}
  ~Engine() = default;
  // Called by workers with a finished batch; wakes JS once per batch, not once per relay.
  void Deliver(std::vector<Completion>* batch);
  // JS thread: takes every finished relay out of the queue.
  void Take(std::vector<Completion>* out);

  Config config;
  Stats stats;
  std::vector<std::unique_ptr<Worker>> workers;
  napi_threadsafe_function tsfn = nullptr;
  std::atomic<bool> stopping{false};

 private:
  std::mutex mu_;
  std::vector<Completion> done_;
  bool notify_pending_ = false;
};

void Engine::Deliver(std::vector<Completion>* batch) {
  bool notify = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_.insert(done_.end(), batch->begin(), batch->end());
    if (!notify_pending_ && !stopping.load(std::memory_order_acquire)) notify = notify_pending_ = true;
  }
  batch->clear();
  if (notify && tsfn != nullptr) napi_call_threadsafe_function(tsfn, nullptr, napi_tsfn_nonblocking);
}

void Engine::Take(std::vector<Completion>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  out->swap(done_);
  notify_pending_ = false;
}

Worker::~Worker() {
  for (auto& p : pipes_) {
    close(p.r);
    close(p.w);
  }
  engine_->stats.pipes_pooled.fetch_sub(static_cast<int64_t>(pipes_.size()), std::memory_order_relaxed);
  for (char* b : buffers_) std::free(b);
  if (epfd_ >= 0) close(epfd_);
  if (evfd_ >= 0) close(evfd_);
  // Relays still handed over but never registered (stop raced a handover): close their fds.
  for (const Command& c : inbox_) {
    if (c.kind != Command::kAdd) continue;
    close(c.relay->fd[kDown]);
    close(c.relay->fd[kUp]);
    std::free(c.relay->dir[kDown].buf);
    delete c.relay;
  }
}

int Worker::Init() {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) return errno;
  evfd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (evfd_ < 0) return errno;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;  // relays are tagged pointers, never 0
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, evfd_, &ev) != 0) return errno;
  return 0;
}

void Worker::Post(const Command& c) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    inbox_.push_back(c);
    wake = !wake_pending_;
    wake_pending_ = true;
  }
  // One eventfd write per burst of handovers, however many relays a JS tick starts.
  if (wake) {
    uint64_t one = 1;
    ssize_t ignored = write(evfd_, &one, sizeof(one));
    (void)ignored;
  }
}

void Worker::StopAndJoin() {
  stop_.store(true, std::memory_order_release);
  uint64_t one = 1;
  ssize_t ignored = write(evfd_, &one, sizeof(one));
  (void)ignored;
  if (thread_.joinable()) thread_.join();
}

void Worker::Run() {
  // Signals belong to the JS thread; synchronous faults and SIGPIPE (ignored by Node, raised by splice to a reset
  // socket) stay deliverable so they are discarded rather than left pending.
  sigset_t set;
  sigfillset(&set);
  for (int s : {SIGPIPE, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) sigdelset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  char name[16];
  snprintf(name, sizeof(name), "sidelane-relay%d", index_);
  pthread_setname_np(pthread_self(), name);

  epoll_event events[kMaxEvents];
  now_ms_ = NowMs(CLOCK_MONOTONIC_COARSE);
  while (!stop_.load(std::memory_order_acquire)) {
    int timeout = -1;
    if (!ready_.empty()) {
      timeout = 0;
    } else if (idle_relays_ > 0) {
      timeout = next_sweep_ms_ > now_ms_ ? static_cast<int>(next_sweep_ms_ - now_ms_) : 0;
    }
    int n = epoll_wait(epfd_, events, kMaxEvents, timeout);
    if (n < 0) n = 0;  // EINTR
    now_ms_ = NowMs(CLOCK_MONOTONIC_COARSE);
    for (int i = 0; i < n; ++i) {
      uint64_t tag = events[i].data.u64;
      if (tag == 0) {
        DrainInbox();
        continue;
      }
      auto* r = reinterpret_cast<Relay*>(static_cast<uintptr_t>(tag & ~uint64_t{1}));
      int side = static_cast<int>(tag & 1);
      if (r->done) continue;
      uint32_t ev = events[i].events;
      if (ev & EPOLLERR) {
        int err = SocketError(r->fd[side]);
        if (err != 0) {
          Fail(r, side, err);
          continue;
        }
      }
      if (ev & (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) r->readable[side] = true;
      if (ev & EPOLLPRI) r->urgent[side] = true;
      if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) r->writable[side] = true;
      if (ev & (EPOLLRDHUP | EPOLLHUP)) r->rdhup[side] = true;
      Pump(r);
    }
    if (!ready_.empty()) {
      std::vector<Relay*> again;
      again.swap(ready_);
      for (Relay* r : again) {
        r->queued = false;
        if (!r->done) Pump(r);
      }
    }
    if (idle_relays_ > 0 && now_ms_ >= next_sweep_ms_) Sweep();
    Bury();
    if (!done_.empty()) engine_->Deliver(&done_);
  }
  // Stopping: every relay still here is aborted (both sides reset), and reported.
  DrainInbox();
  std::vector<Relay*> all;
  all.reserve(relays_.size());
  for (auto& entry : relays_) all.push_back(entry.second);
  for (Relay* r : all) Finish(r, kAborted);
  Bury();
  if (!done_.empty()) engine_->Deliver(&done_);
}

void Worker::DrainInbox() {
  uint64_t value;
  ssize_t ignored = read(evfd_, &value, sizeof(value));
  (void)ignored;
  std::vector<Command> commands;
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    commands.swap(inbox_);
    wake_pending_ = false;
  }
  for (const Command& c : commands) {
    if (c.kind == Command::kAdd) {
      Register(c.relay);
    } else {
      auto it = relays_.find(c.id);
      if (it != relays_.end()) Finish(it->second, kAborted);
    }
  }
}

void Worker::Register(Relay* r) {
  relays_.emplace(r->id, r);
  r->last_active_ms = now_ms_;
  if (r->idle_ms > 0) {
    ++idle_relays_;
    if (r->idle_ms < min_idle_ms_) min_idle_ms_ = r->idle_ms;
    // Coarse sweep: a tenth of the shortest idle timeout, between 10 ms and 1 s. Precision is that interval.
    uint64_t interval = std::min<uint64_t>(1000, std::max<uint64_t>(10, min_idle_ms_ / 10));
    next_sweep_ms_ = std::min(next_sweep_ms_, now_ms_ + interval);
  }
  for (int side = kDown; side <= kUp; ++side) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(r)) | static_cast<uint64_t>(side);
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, r->fd[side], &ev) != 0) {
      Fail(r, side, errno);
      return;
    }
  }
  Pump(r);
}

void Worker::Pump(Relay* r) {
  bool moved = false;
  for (int round = 0;; ++round) {
    if (round == kPumpBudget) {
      if (!r->queued) {
        r->queued = true;
        ready_.push_back(r);
      }
      break;
    }
    bool progress = Step(r, kDown);
    if (r->done) return;
    progress = Step(r, kUp) || progress;
    if (r->done) return;
    if (!progress) break;
    moved = true;
  }
  if (moved) r->last_active_ms = now_ms_;
  if (r->dir[kDown].shut && r->dir[kUp].shut) Finish(r, kClosed);
}

// One round of work on direction d (source fd[d] -> destination fd[1-d]). Returns whether anything moved.
//
// The source is read before the pipe is written (issue 11, fewer packets per connection). When the source's FIN has
// already arrived (EPOLLRDHUP) a read that leaves room in the pipe is followed by one more, which finds the end (0) —
// the read the next round would have made anyway, so no extra system call. The last bytes are then spliced with
// SPLICE_F_MORE and the FIN follows at once: the kernel sends bytes and FIN in one segment (tcp_send_fin tacks the
// FIN onto the unsent tail) instead of two, so a connection whose server answers and closes (HTTP with
// Connection: close) costs one segment and one ACK less per hop.
bool Worker::Step(Relay* r, int d) {
  Direction& dir = r->dir[d];
  if (dir.shut) return false;
  const int src = r->fd[d];
  const int out = 1 - d;
  const int dst = r->fd[out];
  bool progress = false;

  // 1. User-space bytes first (initial bytes precede anything read later).
  if (dir.buf_len > 0 && r->writable[out]) {
    int sent = SendBuffer(r, d);
    if (sent < 0) return false;
    progress = sent > 0;
  }
  // 2. Read while there is room: the pipe's capacity (or one buffer) bounds what is in flight. Bytes still in a pipe
  // when the source turns out to carry urgent data are sent first (step 3); the copy takes over once it is empty.
  if (!dir.eof && r->readable[d] && dir.buf_len == 0) {
    // Only a bulk direction ever has a pipe attached, so `bulk` alone says which way to read.
    bool use_pipe = dir.bulk && !r->copy_mode && !r->urgent[d] && (dir.pipe_r >= 0 || AttachPipe(&dir));
    if (use_pipe) {
      for (int reads = 0; reads < 2; ++reads) {
        ssize_t n = splice(src, nullptr, dir.pipe_w, nullptr, dir.pipe_cap, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
          dir.in_pipe += static_cast<uint32_t>(n);
          progress = true;
          if (dir.in_pipe >= dir.pipe_cap) GrowPipe(&dir);  // the source fills the pipe: a bulk transfer
          if (r->rdhup[d] && dir.in_pipe < dir.pipe_cap) continue;  // the FIN is behind these bytes: read it now
        } else if (n == 0) {
          dir.eof = true;
          progress = true;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
          // With an empty pipe this can only be the source; with bytes in it the pipe may be full instead, so
          // keep the source marked readable and retry once the pipe has drained.
          if (dir.in_pipe == 0) r->readable[d] = false;
        } else if (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) {
          // The kernel cannot splice from this socket: copy for the rest of this relay.
          r->copy_mode = true;
          engine_->stats.copy_fallbacks.fetch_add(1, std::memory_order_relaxed);
          progress = true;
        } else if (errno != EINTR) {
          Fail(r, d, errno);
          return false;
        }
        break;
      }
      if (dir.in_pipe == 0 && dir.pipe_r >= 0) ReleasePipe(&dir);
    } else if (dir.in_pipe == 0) {
      if (!AcquireBuffer(&dir)) {
        Fail(r, d, ENOMEM);
        return false;
      }
      // Up to two reads, as for the pipe: the second only when the FIN is known to be behind the bytes (it finds the
      // end, so the bytes and the FIN leave together).
      for (int reads = 0; reads < 2; ++reads) {
        const uint32_t room = dir.buf_cap - dir.buf_len;
        ssize_t n = recv(src, dir.buf + dir.buf_len, room, MSG_DONTWAIT);
        if (n > 0) {
          dir.buf_len += static_cast<uint32_t>(n);
          progress = true;
          if (static_cast<uint32_t>(n) == room) {
            // The buffer is full: a bulk transfer. It is spliced once this buffer has been sent.
            if (!dir.bulk && !r->copy_mode && !r->urgent[d]) {
              dir.bulk = true;
              engine_->stats.spliced_directions.fetch_add(1, std::memory_order_relaxed);
            }
          } else if (r->rdhup[d]) {
            continue;  // the FIN is behind these bytes: read it now
          } else if (!r->urgent[d]) {
            // A short read drained the socket's receive queue: edge-triggered epoll reports the next bytes, so the
            // read that would only find EAGAIN is saved.
            r->readable[d] = false;
          }
        } else if (n == 0) {
          dir.eof = true;
          progress = true;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
          r->readable[d] = false;
        } else if (errno != EINTR) {
          Fail(r, d, errno);
          return false;
        }
        break;
      }
      if (dir.buf_len == 0) {
        ReleaseBuffer(&dir);
      } else if (r->writable[out]) {
        if (SendBuffer(r, d) < 0) return false;
      }
    }
  }
  // 3. Then the pipe; its last bytes carry the FIN along when the source's end is already known.
  if (dir.buf_len == 0 && dir.in_pipe > 0 && r->writable[out]) {
    unsigned flags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK | (dir.eof ? SPLICE_F_MORE : 0u);
    ssize_t n = splice(dir.pipe_r, nullptr, dst, nullptr, dir.in_pipe, flags);
    if (n > 0) {
      dir.in_pipe -= static_cast<uint32_t>(n);
      dir.bytes += static_cast<uint64_t>(n);
      progress = true;
      // A grown pipe stays while the transfer lasts (the next read either refills it or, finding the source drained,
      // gives it back shrunk): handing it back after every drain would shrink and regrow it each time.
      if (dir.in_pipe == 0 && dir.pipe_base == 0) ReleasePipe(&dir);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      r->writable[out] = false;  // the pipe holds bytes, so EAGAIN can only mean the destination is full
    } else if (n < 0 && errno != EINTR) {
      Fail(r, out, errno);
      return false;
    }
  }
  // 4. FIN is forwarded after the last byte, as FIN: the other direction keeps flowing (half-close). Bytes corked by
  // SPLICE_F_MORE above leave with it; if the destination was full they leave when its ACKs make room (the socket is
  // TCP_NODELAY, so pending frames are pushed then) and the FIN follows them here once the pipe is empty.
  if (dir.eof && dir.buf_len == 0 && dir.in_pipe == 0) {
    if (shutdown(dst, SHUT_WR) != 0) {
      int err = errno;
      if (err == ENOTCONN) {  // the destination is gone already (reset)
        err = SocketError(dst);
        if (err == 0) err = ECONNRESET;
      }
      Fail(r, out, err);
      return false;
    }
    dir.shut = true;
    progress = true;
    if (dir.pipe_r >= 0) ReleasePipe(&dir);  // a grown pipe kept across the last drain
  }
  return progress;
}

// Sends direction d's user-space bytes; with the source's end already known they go with MSG_MORE, so the FIN
// that follows leaves in the same segment. Returns 1 (bytes moved), 0 (nothing: destination full) or -1 (failed).
int Worker::SendBuffer(Relay* r, int d) {
  Direction& dir = r->dir[d];
  const int out = 1 - d;
  const int flags = MSG_NOSIGNAL | MSG_DONTWAIT | (dir.eof ? MSG_MORE : 0);
  ssize_t n = send(r->fd[out], dir.buf + dir.buf_off, dir.buf_len, flags);
  if (n > 0) {
    dir.buf_off += static_cast<uint32_t>(n);
    dir.buf_len -= static_cast<uint32_t>(n);
    dir.bytes += static_cast<uint64_t>(n);
    if (dir.buf_len == 0) ReleaseBuffer(&dir);
    return 1;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    r->writable[out] = false;
  } else if (n < 0 && errno != EINTR) {
    Fail(r, out, errno);
    return -1;
  }
  return 0;
}

void Worker::Fail(Relay* r, int side, int err) {
  EndCode end;
  if (IsReset(err)) {
    end = side == kDown ? kDownstreamReset : kUpstreamReset;
  } else {
    end = side == kDown ? kDownstreamError : kUpstreamError;
  }
  Finish(r, end);
}

void Worker::Finish(Relay* r, EndCode end) {
  if (r->done) return;
  r->done = true;
  // No EPOLL_CTL_DEL: closing the fd (the relay holds the only reference) removes it from the epoll set, and
  // events already fetched for it are skipped (done) until the relay is freed after this round. Two syscalls less
  // per connection.
  switch (end) {
    case kClosed:
    case kIdleTimeout:
      close(r->fd[kDown]);
      close(r->fd[kUp]);
      break;
    case kDownstreamReset:
    case kDownstreamError:
      // The failed side is closed as it is; the other learns of it as a reset, as the JS relay does.
      close(r->fd[kDown]);
      ResetAndClose(r->fd[kUp]);
      break;
    case kUpstreamReset:
    case kUpstreamError:
      close(r->fd[kUp]);
      ResetAndClose(r->fd[kDown]);
      break;
    case kAborted:
      ResetAndClose(r->fd[kDown]);
      ResetAndClose(r->fd[kUp]);
      break;
  }
  for (Direction& dir : r->dir) {
    if (dir.pipe_r >= 0) ReleasePipe(&dir);
    if (dir.buf != nullptr) ReleaseBuffer(&dir);
  }
  double duration_ms = static_cast<double>(NowNs() - r->started_ns) / 1e6;
  done_.push_back(Completion{r->id, r->dir[kDown].bytes, r->dir[kUp].bytes, end, duration_ms});
  relays_.erase(r->id);
  if (r->idle_ms > 0) --idle_relays_;
  graveyard_.push_back(r);  // freed after this round: later events of the same epoll batch may still name it
  engine_->stats.active.fetch_sub(1, std::memory_order_relaxed);
  engine_->stats.completed.fetch_add(1, std::memory_order_relaxed);
}

void Worker::Sweep() {
  std::vector<Relay*> expired;
  uint32_t min_idle = UINT32_MAX;
  for (auto& entry : relays_) {
    Relay* r = entry.second;
    if (r->idle_ms == 0) continue;
    if (now_ms_ - r->last_active_ms >= r->idle_ms) {
      expired.push_back(r);
    } else if (r->idle_ms < min_idle) {
      min_idle = r->idle_ms;
    }
  }
  for (Relay* r : expired) Finish(r, kIdleTimeout);
  min_idle_ms_ = min_idle;
  if (idle_relays_ == 0) {
    next_sweep_ms_ = UINT64_MAX;
  } else {
    next_sweep_ms_ = now_ms_ + std::min<uint64_t>(1000, std::max<uint64_t>(10, min_idle_ms_ / 10));
  }
}

void Worker::Bury() {
  for (Relay* r : graveyard_) delete r;
  graveyard_.clear();
}

bool Worker::AttachPipe(Direction* d) {
  if (!pipes_.empty()) {
    d->pipe_r = pipes_.back().r;
    d->pipe_w = pipes_.back().w;
    d->pipe_cap = pipes_.back().cap;
    pipes_.pop_back();
    engine_->stats.pipes_pooled.fetch_sub(1, std::memory_order_relaxed);
  } else {
    int p[2];
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) return false;  // EMFILE/ENFILE: this burst goes by copy
    int cap = engine_->config.pipe_size > 0 ? fcntl(p[1], F_SETPIPE_SZ, engine_->config.pipe_size) : -1;
    if (cap <= 0) cap = fcntl(p[1], F_GETPIPE_SZ);  // over the user's pipe-page limit the kernel gives one page
    d->pipe_r = p[0];
    d->pipe_w = p[1];
    d->pipe_cap = cap > 0 ? static_cast<uint32_t>(cap) : 4096;
  }
  d->pipe_base = 0;
  engine_->stats.pipes_in_use.fetch_add(1, std::memory_order_relaxed);
  return true;
}

// A source that fills its pipe in one read is a bulk transfer: a larger pipe moves it in fewer, larger splices
// (issue 11: 256 KiB instead of 64 KiB cut the relay's CPU per GB by about a quarter in `sidelane bench`). Only
// pipes in use by such a transfer are large, and only while it lasts: ReleasePipe shrinks them back, so idle and
// interactive connections, and the pool, keep the base size (pipe pages count against the user's pipe-page limit,
// which all of uid 0's processes on the host share). Refused (EPERM over that limit, ENOMEM): stays as it is.
void Worker::GrowPipe(Direction* d) {
  const int bulk = engine_->config.bulk_pipe_size;
  if (d->pipe_base != 0 || bulk <= 0 || static_cast<uint32_t>(bulk) <= d->pipe_cap || now_ms_ < grow_retry_ms_) return;
  int cap = fcntl(d->pipe_w, F_SETPIPE_SZ, bulk);
  if (cap <= 0) {
    grow_retry_ms_ = now_ms_ + 1000;  // refused: not one failing fcntl per full pipe while the limit holds
    return;
  }
  d->pipe_base = d->pipe_cap;
  d->pipe_cap = static_cast<uint32_t>(cap);
  engine_->stats.pipes_grown.fetch_add(1, std::memory_order_relaxed);
  engine_->stats.bulk_pipes.fetch_add(1, std::memory_order_relaxed);
}

void Worker::ReleasePipe(Direction* d) {
  // A pipe that still holds bytes (the relay ended abnormally) cannot be reused: close it. A grown one goes back to
  // the pool at its base size (or is closed if the kernel will not shrink it).
  bool reusable = d->in_pipe == 0 && pipes_.size() < engine_->config.pipe_pool_max;
  if (d->pipe_base != 0) {
    engine_->stats.bulk_pipes.fetch_sub(1, std::memory_order_relaxed);
    if (reusable && fcntl(d->pipe_w, F_SETPIPE_SZ, d->pipe_base) > 0) {
      d->pipe_cap = d->pipe_base;
    } else {
      reusable = false;
    }
  }
  if (reusable) {
    pipes_.push_back(PooledPipe{d->pipe_r, d->pipe_w, d->pipe_cap});
    engine_->stats.pipes_pooled.fetch_add(1, std::memory_order_relaxed);
  } else {
    close(d->pipe_r);
    close(d->pipe_w);
  }
  d->pipe_r = d->pipe_w = -1;
  d->in_pipe = 0;
  d->pipe_cap = d->pipe_base = 0;
  engine_->stats.pipes_in_use.fetch_sub(1, std::memory_order_relaxed);
}

bool Worker::AcquireBuffer(Direction* d) {
  if (d->buf != nullptr) return true;
  if (!buffers_.empty()) {
    d->buf = buffers_.back();
    buffers_.pop_back();
  } else {
    d->buf = static_cast<char*>(std::malloc(kCopyBufferSize));
    if (d->buf == nullptr) return false;
  }
  d->buf_cap = kCopyBufferSize;
  d->buf_off = d->buf_len = 0;
  engine_->stats.buffers_in_use.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void Worker::ReleaseBuffer(Direction* d) {
  if (d->buf == nullptr) return;
  if (d->buf_cap == kCopyBufferSize && buffers_.size() < kMaxPooledBuffers) {
    buffers_.push_back(d->buf);
  } else {
    std::free(d->buf);
  }
  d->buf = nullptr;
  d->buf_cap = d->buf_off = d->buf_len = 0;
  engine_->stats.buffers_in_use.fetch_sub(1, std::memory_order_relaxed);
}

// ---- the JavaScript side ----------------------------------------------------------------------------------------

// Per-environment state (a worker_thread loading the addon gets its own engine).
struct RelayModule {
  napi_env env = nullptr;
  Engine* engine = nullptr;
  napi_ref callback = nullptr;
  napi_async_context async_context = nullptr;
  uint64_t next_id = 1;
  int64_t outstanding = 0;  // handed over, completion not yet given to JS (JS thread only)
  bool referenced = false;  // the threadsafe function keeps the loop alive while relays are outstanding
};

void SetReferenced(RelayModule* m, bool on) {
  if (m->engine == nullptr || m->engine->tsfn == nullptr || m->referenced == on) return;
  if (on) {
    napi_ref_threadsafe_function(m->env, m->engine->tsfn);
  } else {
    napi_unref_threadsafe_function(m->env, m->engine->tsfn);
  }
  m->referenced = on;
}

napi_value CompletionsToJs(napi_env env, const std::vector<Completion>& batch) {
  size_t count = batch.size() * kCompletionFields;
  napi_value buffer;
  void* data = nullptr;
  // Fails once JavaScript can no longer run (a worker_thread being torn down still runs its loop once).
  if (napi_create_arraybuffer(env, count * sizeof(double), &data, &buffer) != napi_ok ||
      (data == nullptr && count > 0)) {
    return nullptr;
  }
  auto* out = static_cast<double*>(data);
  for (size_t i = 0; i < batch.size(); ++i) {
    const Completion& c = batch[i];
    out[i * kCompletionFields + 0] = static_cast<double>(c.id);
    out[i * kCompletionFields + 1] = static_cast<double>(c.up);
    out[i * kCompletionFields + 2] = static_cast<double>(c.down);
    out[i * kCompletionFields + 3] = static_cast<double>(c.end);
    out[i * kCompletionFields + 4] = c.duration_ms;
  }
  napi_value array;
  if (napi_create_typedarray(env, napi_float64_array, count, buffer, 0, &array) != napi_ok) return nullptr;
  return array;
}

// The threadsafe function's callback, on the JS thread: hands every finished relay to JS in one call.
void CallJs(napi_env env, napi_value /*js_cb*/, void* context, void* /*data*/) {
  if (env == nullptr) return;  // the function is being torn down
  auto* m = static_cast<RelayModule*>(context);
  if (m->engine == nullptr || m->callback == nullptr) return;
  std::vector<Completion> batch;
  m->engine->Take(&batch);
  if (batch.empty()) return;
  m->outstanding -= static_cast<int64_t>(batch.size());
  if (m->outstanding <= 0) SetReferenced(m, false);
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb;
  napi_value global;
  napi_get_reference_value(env, m->callback, &cb);
  napi_get_global(env, &global);
  napi_value arg = CompletionsToJs(env, batch);
  if (arg == nullptr) {
    napi_close_handle_scope(env, scope);
    return;
  }
  // make_callback (not call_function) so promise continuations run right after, as for any libuv callback.
  napi_make_callback(env, m->async_context, global, cb, 1, &arg, nullptr);
  napi_close_handle_scope(env, scope);
}

// Stops every worker (aborting what is left) and frees the engine; returns what finished meanwhile.
std::vector<Completion> StopEngine(RelayModule* m) {
  std::vector<Completion> left;
  Engine* e = m->engine;
  if (e == nullptr) return left;
  e->stopping.store(true, std::memory_order_release);
  for (auto& w : e->workers) w->StopAndJoin();
  e->Take(&left);
  e->workers.clear();
  m->engine = nullptr;
  delete e;
  return left;
}

// At environment teardown: stop the threads before Node frees what they use. Registered after the threadsafe
// function is created, so it runs before the function's own cleanup (hooks run in reverse order).
void CleanupHook(void* arg) {
  auto* m = static_cast<RelayModule*>(arg);
  StopEngine(m);
  m->referenced = false;
  m->outstanding = 0;
}

RelayModule* Module(const Napi::CallbackInfo& info) { return static_cast<RelayModule*>(info.Data()); }

int IntOpt(const Napi::Object& o, const char* key, int fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : fallback;
}

// relayStart({threads, pipeSize, bulkPipeSize, pipePoolMax, copyMode, spliceAlways}, onComplete(Float64Array))
Napi::Value RelayStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RelayModule* m = Module(info);
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
    ThrowInvalid(env, "relayStart expects (options, onComplete)");
    return env.Undefined();
  }
  if (m->engine != nullptr) {
    ThrowInvalid(env, "relayStart: the native relay is already running in this environment");
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  Config config;
  config.threads = IntOpt(o, "threads", 1);
  config.pipe_size = IntOpt(o, "pipeSize", 0);
  config.bulk_pipe_size = IntOpt(o, "bulkPipeSize", 0);
  config.pipe_pool_max = static_cast<size_t>(IntOpt(o, "pipePoolMax", 256));
  config.copy_mode = o.Get("copyMode").IsBoolean() && o.Get("copyMode").As<Napi::Boolean>().Value();
  config.splice_always = o.Get("spliceAlways").IsBoolean() && o.Get("spliceAlways").As<Napi::Boolean>().Value();
  if (config.threads < 1 || config.threads > 64 || config.pipe_size < 0 || config.bulk_pipe_size < 0 ||
      IntOpt(o, "pipePoolMax", 256) < 0) {
    ThrowInvalid(env, "relayStart: threads must be 1-64, pipeSize, bulkPipeSize and pipePoolMax non-negative");
    return env.Undefined();
  }
  auto engine = std::make_unique<Engine>(config);
  for (int i = 0; i < config.threads; ++i) {
    auto w = std::make_unique<Worker>(engine.get(), i);
    int err = w->Init();
    if (err != 0) {
      ThrowErrno(env, err, "epoll_create1/eventfd", "starting the native relay");
      return env.Undefined();
    }
    engine->workers.push_back(std::move(w));
  }
  napi_value name;
  napi_create_string_utf8(env, "sidelane.relay", NAPI_AUTO_LENGTH, &name);
  napi_status st = napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, nullptr, nullptr, m, CallJs,
                                                   &engine->tsfn);
  if (st != napi_ok) {
    ThrowInvalid(env, "relayStart: could not create the completion channel");
    return env.Undefined();
  }
  // Unreferenced until a relay is outstanding: an idle engine must not keep the process alive.
  napi_unref_threadsafe_function(env, engine->tsfn);
  m->referenced = false;
  m->outstanding = 0;
  if (m->callback != nullptr) napi_delete_reference(env, m->callback);
  napi_create_reference(env, info[1], 1, &m->callback);
  if (m->async_context == nullptr) napi_async_init(env, nullptr, name, &m->async_context);
  m->engine = engine.release();
  for (auto& w : m->engine->workers) w->Start();
  napi_add_env_cleanup_hook(env, CleanupHook, m);
  return env.Undefined();
}

// relayAdd(downFd, upFd, idleTimeoutMs, initialUp?: Buffer, flags?) -> id. The relay owns both fds from here on.
// flags: 1 = both fds are known to be open non-blocking sockets (the native acceptor's and connector's are), so the
// two fcntl calls that check and set O_NONBLOCK are skipped.
Napi::Value RelayAdd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RelayModule* m = Module(info);
  if (m->engine == nullptr) {
    ThrowInvalid(env, "relayAdd: the native relay is not running (relayStart first)");
    return env.Undefined();
  }
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber()) {
    ThrowInvalid(env, "relayAdd expects (downFd, upFd, idleTimeoutMs, initialUp?)");
    return env.Undefined();
  }
  int fds[2] = {info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value()};
  int64_t idle = info[2].As<Napi::Number>().Int64Value();
  if (fds[0] < 0 || fds[1] < 0 || fds[0] == fds[1] || idle < 0 || idle > UINT32_MAX) {
    ThrowInvalid(env, "relayAdd: expected two distinct fds and an idle timeout of 0..2^32-1 ms");
    return env.Undefined();
  }
  const bool known_nonblocking = info.Length() > 4 && info[4].IsNumber() && (info[4].As<Napi::Number>().Int32Value() & 1);
  // Edge-triggered splice needs non-blocking sockets (splice honours the socket's O_NONBLOCK, not its flags).
  for (int fd : fds) {
    if (known_nonblocking) break;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || ((flags & O_NONBLOCK) == 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)) {
      ThrowErrno(env, errno, "fcntl", "handing a socket to the native relay");
      return env.Undefined();
    }
  }
  auto* r = new Relay();
  r->id = m->next_id++;
  r->fd[kDown] = fds[0];
  r->fd[kUp] = fds[1];
  r->idle_ms = static_cast<uint32_t>(idle);
  r->copy_mode = m->engine->config.copy_mode;
  r->dir[kDown].bulk = r->dir[kUp].bulk = m->engine->config.splice_always;
  r->started_ns = NowNs();
  if (info.Length() > 3 && info[3].IsBuffer()) {
    Napi::Buffer<char> initial = info[3].As<Napi::Buffer<char>>();
    if (initial.Length() > 0) {
      r->dir[kDown].buf = static_cast<char*>(std::malloc(initial.Length()));
      if (r->dir[kDown].buf == nullptr) {
        delete r;
        ThrowErrno(env, ENOMEM, "malloc", "copying initial bytes for the native relay");
        return env.Undefined();
      }
      std::memcpy(r->dir[kDown].buf, initial.Data(), initial.Length());
      r->dir[kDown].buf_len = r->dir[kDown].buf_cap = static_cast<uint32_t>(initial.Length());
      m->engine->stats.buffers_in_use.fetch_add(1, std::memory_order_relaxed);
    }
  }
  Engine* e = m->engine;
  e->stats.active.fetch_add(1, std::memory_order_relaxed);
  e->stats.started.fetch_add(1, std::memory_order_relaxed);
  ++m->outstanding;
  SetReferenced(m, true);
  // From Post() on the relay belongs to its worker thread, which may finish and free it before this returns (a
  // connection already closed at both ends): never touch `r` again. Reading r->id here returned a freed relay's
  // memory as the id, so JS waited forever for a completion that had arrived under the real id (found by the load
  // soak: connections left active, upstream_cx_active stuck, no access-log entry).
  const uint64_t id = r->id;
  e->workers[id % e->workers.size()]->Post(Command{Command::kAdd, r, id});
  return Napi::Number::New(env, static_cast<double>(id));
}

// relayAbort(id): reset both sides; the completion (end 'aborted', unless it ended first) arrives as usual.
Napi::Value RelayAbort(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RelayModule* m = Module(info);
  if (m->engine == nullptr || info.Length() < 1 || !info[0].IsNumber()) return env.Undefined();
  int64_t id = info[0].As<Napi::Number>().Int64Value();
  if (id <= 0) return env.Undefined();
  Engine* e = m->engine;
  e->workers[static_cast<uint64_t>(id) % e->workers.size()]->Post(
      Command{Command::kAbort, nullptr, static_cast<uint64_t>(id)});
  return env.Undefined();
}

Napi::Value RelayStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RelayModule* m = Module(info);
  Napi::Object o = Napi::Object::New(env);
  Engine* e = m->engine;
  auto num = [&](const char* key, double v) { o.Set(key, Napi::Number::New(env, v)); };
  num("threads", e ? e->workers.size() : 0);
  num("active", e ? static_cast<double>(e->stats.active.load()) : 0);
  num("pipesInUse", e ? static_cast<double>(e->stats.pipes_in_use.load()) : 0);
  num("pipesPooled", e ? static_cast<double>(e->stats.pipes_pooled.load()) : 0);
  num("buffersInUse", e ? static_cast<double>(e->stats.buffers_in_use.load()) : 0);
  num("started", e ? static_cast<double>(e->stats.started.load()) : 0);
  num("completed", e ? static_cast<double>(e->stats.completed.load()) : 0);
  num("copyFallbacks", e ? static_cast<double>(e->stats.copy_fallbacks.load()) : 0);
  num("splicedDirections", e ? static_cast<double>(e->stats.spliced_directions.load()) : 0);
  num("pipesGrown", e ? static_cast<double>(e->stats.pipes_grown.load()) : 0);
  num("bulkPipesInUse", e ? static_cast<double>(e->stats.bulk_pipes.load()) : 0);
  return o;
}

// relayStop() -> Float64Array of the relays that ended (aborted) while stopping; JS resolves them.
Napi::Value RelayStop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RelayModule* m = Module(info);
  if (m->engine == nullptr) return Napi::Value(env, CompletionsToJs(env, {}));
  napi_threadsafe_function tsfn = m->engine->tsfn;
  napi_remove_env_cleanup_hook(env, CleanupHook, m);
  SetReferenced(m, false);
  std::vector<Completion> left = StopEngine(m);
  napi_release_threadsafe_function(tsfn, napi_tsfn_abort);
  m->outstanding = 0;
  return Napi::Value(env, CompletionsToJs(env, left));
}

void FreeModule(void* arg) { delete static_cast<RelayModule*>(arg); }

}  // namespace

void InitRelay(Napi::Env env, Napi::Object exports) {
  auto* m = new RelayModule();
  m->env = env;
  // Registered first, so it runs last: after CleanupHook has stopped the engine.
  napi_add_env_cleanup_hook(env, FreeModule, m);
  exports.Set("relayStart", Napi::Function::New(env, RelayStart, "relayStart", m));
  exports.Set("relayAdd", Napi::Function::New(env, RelayAdd, "relayAdd", m));
  exports.Set("relayAbort", Napi::Function::New(env, RelayAbort, "relayAbort", m));
  exports.Set("relayStats", Napi::Function::New(env, RelayStats, "relayStats", m));
  exports.Set("relayStop", Napi::Function::New(env, RelayStop, "relayStop", m));
}

}  // namespace sidelane
