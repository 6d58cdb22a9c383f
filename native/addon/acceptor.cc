// The native acceptor (see acceptor.h; docs/performance.md).
//
// Accepting runs on the JS thread — it is cheap and routing needs the connection there anyway — but without a
// net.Socket per connection: accept4() in a loop up to a batch size, then one call into JS with flat arrays.
// File-descriptor exhaustion (EMFILE/ENFILE) is handled as libuv and nginx do: a reserve fd (/dev/null) is
// given up to accept and reset the waiting connections (a clean, immediate refusal instead of a hanging SYN
// queue or a busy loop), taken back, and accepting pauses for a back-off. JS hears about refusals at most once
// per interval.
#include "acceptor.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "errors.h"

#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

namespace sidelane {
namespace {

// PROXY v2 framing results; the numbering is shared with HEADER_STATUS in src/native/addon.ts.
enum HeaderStatus : int32_t {
  kHeaderNone = 0,       // not asked for
  kHeaderComplete = 1,   // the whole header was in the receive queue and has been consumed
  kHeaderPending = 2,    // a valid prefix (or nothing yet); nothing consumed — JS reads it with a deadline
  kHeaderMalformed = 3,  // not a PROXY v2 header (signature or version); nothing consumed
  kHeaderOversized = 4,  // declares more than maxHeader bytes; nothing consumed
  kHeaderClosed = 5,     // the peer closed or reset before sending a complete header
  kHeaderTimeout = 6,    // still incomplete when headerWaitMs ran out (only with headerWaitMs); nothing consumed
};

enum HeaderMode : int { kModeNone = 0, kModeLoopback = 1, kModeAlways = 2 };

constexpr uint8_t kSignature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr int kMetaFields = 8;  // fd, family, localPort, remotePort, origDstPort, origDstFamily, status, headerLen

struct Options {
  int batch = 64;
  bool orig_dst = false;
  int header_mode = kModeNone;
  uint32_t max_header = 2048;
  uint64_t backoff_ms = 100;
  uint64_t report_ms = 1000;
  bool no_delay = true;
  uint64_t header_wait_ms = 0;  // 0: report pending at once; else wait natively (see Parked)
};

struct AcceptorModule;
struct Acceptor;

// A connection whose PROXY v2 header had not fully arrived at accept time, waiting (natively, on its own
// uv_poll) for the rest or for its deadline — so the outbound path never needs a net.Socket to read a header.
// Its batch entry is kept ready to deliver.
struct Parked {
  uv_poll_t poll;
  Acceptor* acceptor = nullptr;
  int fd = -1;
  uint64_t deadline_ms = 0;
  bool done = false;
  int32_t meta[8];
  char addresses[3 * INET6_ADDRSTRLEN];
};

struct Acceptor {
  AcceptorModule* module = nullptr;
  uint32_t id = 0;
  int listen_fd = -1;
  int reserve_fd = -1;
  Options opt;
  uv_poll_t poll;
  uv_timer_t backoff;
  uv_timer_t report;
  uv_timer_t park_timer;  // fires at the oldest parked connection's deadline
  std::vector<Parked*> parked;  // FIFO: deadlines only grow
  int open_handles = 0;
  bool paused = false;
  bool no_delay_inherited = false;  // TCP_NODELAY is set on the listening socket, accepted sockets inherit it
  bool closing = false;
  bool poll_closed = false;  // after acceptorShutdown: the listening fd is closed, its poll handle with it
  bool report_scheduled = false;
  napi_ref on_batch = nullptr;
  napi_ref on_exhausted = nullptr;
  napi_async_context async_context = nullptr;
  uint64_t accepted = 0;
  uint64_t refused = 0;
  uint64_t exhaustions = 0;
  uint64_t refused_unreported = 0;
  uint64_t exhaustions_unreported = 0;
  uint64_t last_report_ms = 0;
  bool reported_once = false;
  int last_errno = 0;
  // Scratch reused across batches (no allocation per connection once warmed up).
  std::vector<int32_t> meta;
  std::vector<char> addresses;  // 3 NUL-terminated strings of INET6_ADDRSTRLEN per connection
  std::vector<uint8_t> headers;
};

struct AcceptorModule {
  napi_env env = nullptr;
  uv_loop_t* loop = nullptr;
  uint32_t next_id = 1;
  std::unordered_map<uint32_t, Acceptor*> acceptors;
  size_t live = 0;  // acceptors not yet freed (stopped ones wait for their handles to close)
  napi_async_cleanup_hook_handle cleanup = nullptr;  // set during environment teardown
};

void ResetAndClose(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  close(fd);
}

bool IsV4Mapped(const sockaddr_in6* s) { return IN6_IS_ADDR_V4MAPPED(&s->sin6_addr); }

// Formats an address (v4-mapped v6 as plain v4, as the JS side normalises anyway); returns its family (4|6).
int Format(const sockaddr_storage& ss, char* out, int* port) {
  if (ss.ss_family == AF_INET) {
    const auto* s = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &s->sin_addr, out, INET6_ADDRSTRLEN);
    *port = ntohs(s->sin_port);
    return 4;
  }
  const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&ss);
  *port = ntohs(s6->sin6_port);
  if (IsV4Mapped(s6)) {
    inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], out, INET6_ADDRSTRLEN);
    return 4;
  }
  inet_ntop(AF_INET6, &s6->sin6_addr, out, INET6_ADDRSTRLEN);
  return 6;
}

bool IsLoopback(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET) {
    return (ntohl(reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr.s_addr) >> 24) == 127;
  }
  const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&ss);
  if (IsV4Mapped(s6)) return s6->sin6_addr.s6_addr[12] == 127;
  return IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
}

// Frames a PROXY v2 header (haproxy proxy-protocol.txt, section 2.2) without decoding it: the TypeScript codec
// does that. Consumes the bytes only when the whole header is there.
// On kHeaderPending, *needed says how many bytes must be queued before trying again makes sense: while the
// signature and version are still being checked, one more byte (a wrong byte refuses the connection at once, as the
// codec does, instead of at the header deadline — a short non-PROXY greeting was held for it, found by fuzzing);
// after that, the fixed part, then the whole declared header.
HeaderStatus FrameHeader(int fd, uint32_t max, std::vector<uint8_t>* out, uint32_t* length, uint32_t* needed) {
  *needed = 1;
  // One peek of up to `max` bytes tells everything (signature, version, declared length, completeness); a second
  // read consumes exactly the header when it is all there. Two syscalls per hooked connection.
  size_t at = out->size();
  out->resize(at + max);
  uint8_t* peek = out->data() + at;
  ssize_t n;
  do {
    n = recv(fd, peek, max, MSG_PEEK | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  HeaderStatus status = kHeaderPending;
  uint32_t total = 0;
  if (n < 0) {
    status = (errno == EAGAIN || errno == EWOULDBLOCK) ? kHeaderPending : kHeaderClosed;
  } else if (n == 0) {
    status = kHeaderClosed;
  } else {
    size_t sig = static_cast<size_t>(n) < sizeof(kSignature) ? static_cast<size_t>(n) : sizeof(kSignature);
    if (std::memcmp(peek, kSignature, sig) != 0) {
      status = kHeaderMalformed;
    } else if (n >= 13 && (peek[12] >> 4) != 2) {
      status = kHeaderMalformed;
    } else if (n >= 16) {
      total = 16u + ((static_cast<uint32_t>(peek[14]) << 8) | peek[15]);
      if (total > max) {
        status = kHeaderOversized;
      } else {
        *needed = total;
        if (static_cast<uint32_t>(n) >= total) status = kHeaderComplete;
      }
    } else {
      *needed = n < 13 ? static_cast<uint32_t>(n) + 1 : 16;
    }
  }
  if (status != kHeaderComplete) {
    out->resize(at);
    return status;
  }
  // Everything is in the queue and only this thread reads the socket: this takes exactly the header.
  do {
    n = recv(fd, peek, total, MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(total)) {
    out->resize(at);
    return kHeaderClosed;
  }
  out->resize(at + total);
  *length = total;
  return kHeaderComplete;
}

void OnHandleClosed(uv_handle_t* handle);
void OnParkedClosed(uv_handle_t* handle);

// Ends a parked connection's wait; with close_fd (the acceptor stops) nobody will take the connection.
void Unpark(Parked* p, bool close_fd) {
  if (p->done) return;
  p->done = true;
  uv_poll_stop(&p->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&p->poll), OnParkedClosed);
  if (close_fd) {
    close(p->fd);
  } else {
    int one = 1;  // whoever takes the socket expects the default low-water mark
    setsockopt(p->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
  }
}

void CloseAcceptor(Acceptor* a) {
  if (a->closing) return;
  a->closing = true;
  a->module->acceptors.erase(a->id);
  uv_timer_stop(&a->backoff);
  uv_timer_stop(&a->report);
  if (!a->poll_closed) {
    uv_poll_stop(&a->poll);
    uv_close(reinterpret_cast<uv_handle_t*>(&a->poll), OnHandleClosed);
    a->poll_closed = true;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&a->backoff), OnHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&a->report), OnHandleClosed);
  uv_timer_stop(&a->park_timer);
  uv_close(reinterpret_cast<uv_handle_t*>(&a->park_timer), OnHandleClosed);
  for (Parked* p : a->parked) Unpark(p, true);
  a->parked.clear();
  if (a->reserve_fd >= 0) close(a->reserve_fd);
  a->reserve_fd = -1;
}

void HandleGone(Acceptor* a);

void OnHandleClosed(uv_handle_t* handle) { HandleGone(static_cast<Acceptor*>(handle->data)); }

void OnParkedClosed(uv_handle_t* handle) {
  auto* p = static_cast<Parked*>(handle->data);
  Acceptor* a = p->acceptor;
  delete p;
  HandleGone(a);
}

void HandleGone(Acceptor* a) {
  if (--a->open_handles > 0) return;
  AcceptorModule* m = a->module;
  napi_env env = m->env;
  napi_ref on_batch = a->on_batch;
  napi_ref on_exhausted = a->on_exhausted;
  napi_async_context async_context = a->async_context;
  delete a;
  --m->live;
  if (m->cleanup != nullptr) {
    if (m->live == 0) {
      napi_remove_async_cleanup_hook(m->cleanup);
      delete m;
    }
    return;
  }
  // A normal stop (not teardown): the JS references can be released.
  if (on_batch) napi_delete_reference(env, on_batch);
  if (on_exhausted) napi_delete_reference(env, on_exhausted);
  if (async_context) napi_async_destroy(env, async_context);
}

void Report(Acceptor* a) {
  a->report_scheduled = false;
  a->last_report_ms = uv_now(a->module->loop);
  a->reported_once = true;
  if (a->refused_unreported == 0 && a->exhaustions_unreported == 0) return;
  napi_env env = a->module->env;
  Napi::HandleScope scope(env);
  Napi::Object info = Napi::Object::New(env);
  info.Set("refused", static_cast<double>(a->refused_unreported));
  info.Set("exhaustions", static_cast<double>(a->exhaustions_unreported));
  info.Set("refusedTotal", static_cast<double>(a->refused));
  info.Set("code", ErrnoName(a->last_errno));
  a->refused_unreported = 0;
  a->exhaustions_unreported = 0;
  napi_value cb;
  napi_get_reference_value(env, a->on_exhausted, &cb);
  napi_value argv[2] = {Napi::Number::New(env, a->id), info};
  napi_make_callback(env, a->async_context, Napi::Env(env).Global(), cb, 2, argv, nullptr);
}

void OnReportTimer(uv_timer_t* t) {
  auto* a = static_cast<Acceptor*>(t->data);
  if (!a->closing) Report(a);
}

// At most one report per interval: now if the last one is old enough, else when the interval has passed.
void MaybeReport(Acceptor* a) {
  if (a->report_scheduled) return;
  uint64_t now = uv_now(a->module->loop);
  if (!a->reported_once || now - a->last_report_ms >= a->opt.report_ms) {
    Report(a);
    return;
  }
  a->report_scheduled = true;
  uv_timer_start(&a->report, OnReportTimer, a->last_report_ms + a->opt.report_ms - now, 0);
}

void OnReadable(uv_poll_t* handle, int status, int events);

void OnBackoffOver(uv_timer_t* t) {
  auto* a = static_cast<Acceptor*>(t->data);
  if (a->closing || a->poll_closed) return;
  a->paused = false;
  if (a->reserve_fd < 0) a->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  uv_poll_start(&a->poll, UV_READABLE, OnReadable);
}

// Out of file descriptors: refuse what waits in the queue (using the reserve fd), then pause. Never spins.
void Exhausted(Acceptor* a, int err) {
  a->last_errno = err;
  ++a->exhaustions;
  ++a->exhaustions_unreported;
  uint64_t refused = 0;
  if (a->reserve_fd >= 0) {
    close(a->reserve_fd);
    a->reserve_fd = -1;
    for (int i = 0; i < a->opt.batch; ++i) {
      int fd = accept4(a->listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        break;
      }
      ResetAndClose(fd);
      ++refused;
    }
  }
  // Taken back now (or after the back-off if something else grabbed the slot meanwhile).
  a->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  a->refused += refused;
  a->refused_unreported += refused;
  a->paused = true;
  uv_poll_stop(&a->poll);
  uv_timer_start(&a->backoff, OnBackoffOver, a->opt.backoff_ms, 0);
  MaybeReport(a);
}

void Deliver(Acceptor* a, size_t count) {
  napi_env env = a->module->env;
  Napi::HandleScope scope(env);
  Napi::Env e(env);
  napi_value raw_meta;
  void* raw_data = nullptr;
  if (napi_create_arraybuffer(env, count * kMetaFields * sizeof(int32_t), &raw_data, &raw_meta) != napi_ok ||
      raw_data == nullptr) {
    // JavaScript cannot run any more (environment teardown): nobody will take these connections.
    for (size_t i = 0; i < count; ++i) close(a->meta[i * kMetaFields]);
    return;
  }
  Napi::ArrayBuffer meta_buf(env, raw_meta);
  std::memcpy(meta_buf.Data(), a->meta.data(), count * kMetaFields * sizeof(int32_t));
  Napi::Int32Array meta = Napi::Int32Array::New(e, count * kMetaFields, meta_buf, 0);
  Napi::Array addresses = Napi::Array::New(e, count * 3);
  for (size_t i = 0; i < count * 3; ++i) {
    addresses.Set(static_cast<uint32_t>(i), Napi::String::New(e, &a->addresses[i * INET6_ADDRSTRLEN]));
  }
  Napi::Value headers = e.Undefined();
  if (!a->headers.empty()) {
    headers = Napi::Buffer<uint8_t>::Copy(e, a->headers.data(), a->headers.size());
  }
  napi_value cb;
  napi_get_reference_value(env, a->on_batch, &cb);
  napi_value argv[5] = {Napi::Number::New(e, a->id), Napi::Number::New(e, static_cast<double>(count)), meta,
                        addresses, headers};
  napi_make_callback(env, a->async_context, e.Global(), cb, 5, argv, nullptr);
}

bool Park(Acceptor* a, const int32_t* meta, const char* addresses, uint32_t needed);

// Accepts up to `limit` connections into the acceptor's batch buffers (framing their headers, parking those still
// incomplete) and returns how many are ready to deliver. Stops early when the queue is empty.
size_t AcceptInto(Acceptor* a, size_t limit) {
  size_t count = 0;
  a->headers.clear();
  for (size_t i = 0; i < limit; ++i) {
    if (a->meta.size() < (count + 1) * kMetaFields) {
      a->meta.resize((count + 1) * kMetaFields);
      a->addresses.resize((count + 1) * 3 * INET6_ADDRSTRLEN);
    }
    sockaddr_storage remote{};
    socklen_t rlen = sizeof(remote);
    int fd = accept4(a->listen_fd, reinterpret_cast<sockaddr*>(&remote), &rlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (err == EINTR || err == ECONNABORTED || err == EPROTO || err == EPERM) continue;  // died in the queue
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) Exhausted(a, err);
      break;  // EAGAIN: the queue is empty (anything else: try again on the next readiness)
    }
    sockaddr_storage local{};
    socklen_t llen = sizeof(local);
    getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen);
    if (a->opt.no_delay && !a->no_delay_inherited) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    int32_t* meta = &a->meta[count * kMetaFields];
    char* addr = &a->addresses[count * 3 * INET6_ADDRSTRLEN];
    int lport = 0;
    int rport = 0;
    meta[0] = fd;
    meta[1] = Format(local, addr, &lport);
    Format(remote, addr + INET6_ADDRSTRLEN, &rport);
    meta[2] = lport;
    meta[3] = rport;
    meta[4] = -1;
    meta[5] = 0;
    addr[2 * INET6_ADDRSTRLEN] = '\0';
    if (a->opt.orig_dst) {
      sockaddr_storage orig{};
      socklen_t olen = sizeof(orig);
      bool v6 = local.ss_family == AF_INET6 && !IsV4Mapped(reinterpret_cast<sockaddr_in6*>(&local));
      int rc = v6 ? getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &orig, &olen)
                  : getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &orig, &olen);
      if (rc == 0) {
        int oport = 0;
        meta[5] = Format(orig, addr + 2 * INET6_ADDRSTRLEN, &oport);
        meta[4] = oport;
      }
    }
    meta[6] = kHeaderNone;
    meta[7] = 0;
    if (a->opt.header_mode == kModeAlways || (a->opt.header_mode == kModeLoopback && IsLoopback(local))) {
      uint32_t length = 0;
      uint32_t needed = 0;
      meta[6] = FrameHeader(fd, a->opt.max_header, &a->headers, &length, &needed);
      meta[7] = static_cast<int32_t>(length);
      ++a->accepted;
      if (meta[6] == kHeaderPending && a->opt.header_wait_ms > 0 && Park(a, meta, addr, needed)) continue;
    } else {
      ++a->accepted;
    }
    ++count;
  }
  return count;
}

void OnReadable(uv_poll_t* handle, int status, int events) {
  auto* a = static_cast<Acceptor*>(handle->data);
  if (a->closing || a->paused || a->listen_fd < 0) return;
  size_t count = AcceptInto(a, static_cast<size_t>(a->opt.batch));
  if (count > 0) Deliver(a, count);
}

// Delivers one parked connection as a batch of one (parking is the rare path; batching it buys nothing).
void DeliverParked(Parked* p, int32_t status, uint32_t length) {
  Acceptor* a = p->acceptor;
  a->meta.resize(std::max<size_t>(a->meta.size(), kMetaFields));
  a->addresses.resize(std::max<size_t>(a->addresses.size(), 3 * INET6_ADDRSTRLEN));
  std::memcpy(a->meta.data(), p->meta, sizeof(p->meta));
  std::memcpy(a->addresses.data(), p->addresses, sizeof(p->addresses));
  a->meta[6] = status;
  a->meta[7] = static_cast<int32_t>(length);
  Deliver(a, 1);
}

// uv_poll is level-triggered: a partial header sitting in the queue would wake us on every loop turn. So the
// socket's SO_RCVLOWAT is raised to the bytes the header still needs: it turns readable only when they are all
// there, or on EOF / error (which poll reports regardless of the low-water mark).
void WaitFor(int fd, uint32_t needed) {
  int lowat = static_cast<int>(needed);
  setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat));
}

void OnParkedReadable(uv_poll_t* handle, int status, int events) {
  auto* p = static_cast<Parked*>(handle->data);
  Acceptor* a = p->acceptor;
  if (p->done || a->closing) return;
  a->headers.clear();
  uint32_t length = 0;
  uint32_t needed = 0;
  HeaderStatus st = FrameHeader(p->fd, a->opt.max_header, &a->headers, &length, &needed);
  if (st == kHeaderPending) {
    pollfd pfd{p->fd, POLLRDHUP, 0};
    if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLERR | POLLHUP)) != 0) {
      st = kHeaderClosed;  // the peer finished (or failed) without completing the header
    } else {
      WaitFor(p->fd, needed);
      return;
    }
  }
  Unpark(p, false);
  a->parked.erase(std::find(a->parked.begin(), a->parked.end(), p));
  DeliverParked(p, st, length);
}

void OnParkTimer(uv_timer_t* t) {
  auto* a = static_cast<Acceptor*>(t->data);
  if (a->closing) return;
  uint64_t now = uv_now(a->module->loop);
  while (!a->parked.empty() && a->parked.front()->deadline_ms <= now) {
    Parked* p = a->parked.front();
    a->parked.erase(a->parked.begin());
    // One last look before calling it late: libuv runs timers before poll callbacks, so after a stalled loop turn
    // the rest of the header can be sitting in the queue, its readiness not yet handled — a header that arrived in
    // time must not be refused (seen under load by the framing fuzz test).
    a->headers.clear();
    uint32_t length = 0;
    uint32_t needed = 0;
    HeaderStatus st = FrameHeader(p->fd, a->opt.max_header, &a->headers, &length, &needed);
    if (st == kHeaderPending) st = kHeaderTimeout;
    Unpark(p, false);
    DeliverParked(p, st, st == kHeaderComplete ? length : 0);
    if (a->closing) return;
  }
  if (!a->parked.empty()) uv_timer_start(&a->park_timer, OnParkTimer, a->parked.front()->deadline_ms - now, 0);
}

bool Park(Acceptor* a, const int32_t* meta, const char* addresses, uint32_t needed) {
  auto* p = new Parked();
  p->acceptor = a;
  p->fd = meta[0];
  p->deadline_ms = uv_now(a->module->loop) + a->opt.header_wait_ms;
  std::memcpy(p->meta, meta, sizeof(p->meta));
  std::memcpy(p->addresses, addresses, sizeof(p->addresses));
  p->poll.data = p;
  if (uv_poll_init(a->module->loop, &p->poll, p->fd) != 0) {
    delete p;
    return false;  // reported as pending; JS falls back
  }
  ++a->open_handles;
  WaitFor(p->fd, needed);
  uv_poll_start(&p->poll, UV_READABLE, OnParkedReadable);
  if (a->parked.empty()) uv_timer_start(&a->park_timer, OnParkTimer, a->opt.header_wait_ms, 0);
  a->parked.push_back(p);
  return true;
}

Acceptor* Find(AcceptorModule* m, const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) return nullptr;
  auto it = m->acceptors.find(info[0].As<Napi::Number>().Uint32Value());
  return it == m->acceptors.end() ? nullptr : it->second;
}

int64_t IntOpt(const Napi::Object& o, const char* key, int64_t fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : fallback;
}

// acceptorStart(listenFd, {batch, originalDst, proxyHeader, maxHeader, headerWaitMs, backoffMs, reportIntervalMs,
//               noDelay},
//               onBatch(id, count, meta, addresses, headers), onExhausted(id, info)) -> id
Napi::Value AcceptorStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* m = static_cast<AcceptorModule*>(info.Data());
  if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsObject() || !info[2].IsFunction() ||
      !info[3].IsFunction()) {
    ThrowInvalid(env, "acceptorStart expects (listenFd, options, onBatch, onExhausted)");
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Object o = info[1].As<Napi::Object>();
  Options opt;
  opt.batch = static_cast<int>(IntOpt(o, "batch", 64));
  opt.orig_dst = o.Get("originalDst").ToBoolean().Value();
  opt.header_mode = static_cast<int>(IntOpt(o, "proxyHeader", kModeNone));
  opt.max_header = static_cast<uint32_t>(IntOpt(o, "maxHeader", 2048));
  opt.backoff_ms = static_cast<uint64_t>(IntOpt(o, "backoffMs", 100));
  opt.report_ms = static_cast<uint64_t>(IntOpt(o, "reportIntervalMs", 1000));
  opt.no_delay = !o.Has("noDelay") || o.Get("noDelay").ToBoolean().Value();
  opt.header_wait_ms = static_cast<uint64_t>(IntOpt(o, "headerWaitMs", 0));
  if (fd < 0 || opt.batch < 1 || opt.batch > 4096 || opt.header_mode < kModeNone || opt.header_mode > kModeAlways ||
      opt.max_header < 16 || opt.max_header > 65551) {
    ThrowInvalid(env, "acceptorStart: invalid listen fd or options");
    return env.Undefined();
  }
  int accepting = 0;
  socklen_t len = sizeof(accepting);
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0) {
    ThrowErrno(env, errno, "getsockopt(SO_ACCEPTCONN)", "starting an acceptor");
    return env.Undefined();
  }
  if (!accepting) {
    ThrowInvalid(env, "acceptorStart: the fd is not a listening socket");
    return env.Undefined();
  }
  if (m->loop == nullptr) napi_get_uv_event_loop(env, &m->loop);
  // TCP_NODELAY set once on the listening socket is inherited by every socket accepted from it (Linux copies the
  // listener's nonagle into the child): one setsockopt per acceptor instead of one per connection (issue 11).
  // Set either way, so a value left on a shared listener by another acceptor does not leak into this one's sockets.
  int no_delay = opt.no_delay ? 1 : 0;
  bool no_delay_inherited = setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &no_delay, sizeof(no_delay)) == 0;
  auto* a = new Acceptor();
  a->no_delay_inherited = no_delay_inherited;
  a->module = m;
  a->id = m->next_id++;
  a->listen_fd = fd;
  a->opt = opt;
  int err = uv_poll_init(m->loop, &a->poll, fd);
  if (err != 0) {
    delete a;
    ThrowErrno(env, -err, "uv_poll_init", "starting an acceptor (is another watcher, e.g. a net.Server, on it?)");
    return env.Undefined();
  }
  uv_timer_init(m->loop, &a->backoff);
  uv_timer_init(m->loop, &a->report);
  uv_timer_init(m->loop, &a->park_timer);
  a->poll.data = a->backoff.data = a->report.data = a->park_timer.data = a;
  a->open_handles = 4;
  // Timers must not keep the process alive by themselves; the poll handle does (as a listening server would).
  uv_unref(reinterpret_cast<uv_handle_t*>(&a->report));
  uv_unref(reinterpret_cast<uv_handle_t*>(&a->park_timer));
  a->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  napi_create_reference(env, info[2], 1, &a->on_batch);
  napi_create_reference(env, info[3], 1, &a->on_exhausted);
  napi_value name;
  napi_create_string_utf8(env, "sidelane.accept", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, nullptr, name, &a->async_context);
  m->acceptors.emplace(a->id, a);
  ++m->live;
  uv_poll_start(&a->poll, UV_READABLE, OnReadable);
  return Napi::Number::New(env, a->id);
}

// acceptorStop(id) -> whether it was running. The listening fd stays open (the caller owns it).
Napi::Value AcceptorStop(const Napi::CallbackInfo& info) {
  auto* m = static_cast<AcceptorModule*>(info.Data());
  Acceptor* a = Find(m, info);
  if (a == nullptr) return Napi::Boolean::New(info.Env(), false);
  CloseAcceptor(a);
  return Napi::Boolean::New(info.Env(), true);
}

// acceptorNoFraming(id) -> whether it was running. From now on connections are delivered at once, without PROXY v2
// framing or its wait: a draining listener refuses every new connection, and must not hold a silent client for the
// header deadline first. Connections already waiting for their header are unaffected.
Napi::Value AcceptorNoFraming(const Napi::CallbackInfo& info) {
  auto* m = static_cast<AcceptorModule*>(info.Data());
  Acceptor* a = Find(m, info);
  if (a == nullptr) return Napi::Boolean::New(info.Env(), false);
  a->opt.header_mode = kModeNone;
  return Napi::Boolean::New(info.Env(), true);
}

// acceptorShutdown(id) -> connections accepted from the queue (delivered now, or parked for their header). Stops listening for good without losing what the
// kernel already queued: every connection waiting in the accept queue is accepted (and framed, or parked for its
// header as usual), then the listening fd is closed at once — so from the next SYN on the port refuses (a hooked
// connect gets ECONNREFUSED and the hook's proxy-down policy applies) — and only then is the batch delivered.
// Connections still parked for their header stay with the acceptor until they are delivered or it is stopped.
// The fd was the caller's; after this it is closed (the caller must not close it again).
Napi::Value AcceptorShutdown(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* m = static_cast<AcceptorModule*>(info.Data());
  Acceptor* a = Find(m, info);
  if (a == nullptr || a->poll_closed) return Napi::Number::New(env, 0);
  uv_poll_stop(&a->poll);
  uv_timer_stop(&a->backoff);
  a->paused = false;
  // No JavaScript between the last accept4 and close: the window in which a handshake can complete into a queue
  // about to be discarded is as short as it can be.
  uint64_t before = a->accepted;
  size_t count = AcceptInto(a, SIZE_MAX);
  // Exhausted() (EMFILE) may have started the backoff timer: it must not restart polling.
  uv_timer_stop(&a->backoff);
  a->paused = false;
  // The poll handle is closed while the fd is still open: libuv forgets the fd *number* when the handle closes, and
  // by then the number may belong to another socket.
  uv_close(reinterpret_cast<uv_handle_t*>(&a->poll), OnHandleClosed);
  a->poll_closed = true;
  close(a->listen_fd);
  a->listen_fd = -1;
  if (count > 0) Deliver(a, count);
  // Accepted: delivered now, or parked until their header completes.
  return Napi::Number::New(env, static_cast<double>(a->accepted - before));
}

Napi::Value AcceptorStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* m = static_cast<AcceptorModule*>(info.Data());
  Acceptor* a = Find(m, info);
  if (a == nullptr) return env.Undefined();
  Napi::Object o = Napi::Object::New(env);
  o.Set("accepted", static_cast<double>(a->accepted));
  o.Set("refused", static_cast<double>(a->refused));
  o.Set("exhaustions", static_cast<double>(a->exhaustions));
  o.Set("paused", a->paused);
  o.Set("reserveFd", a->reserve_fd >= 0);
  o.Set("parked", static_cast<double>(a->parked.size()));
  o.Set("listening", a->listen_fd >= 0);
  return o;
}

// Environment teardown (e.g. a worker_thread exiting): close every handle before the loop is closed; the last
// close callback (OnHandleClosed) completes the hook.
void AsyncCleanup(napi_async_cleanup_hook_handle handle, void* arg) {
  auto* m = static_cast<AcceptorModule*>(arg);
  if (m->live == 0) {
    napi_remove_async_cleanup_hook(handle);
    delete m;
    return;
  }
  m->cleanup = handle;
  std::vector<Acceptor*> all;
  for (auto& entry : m->acceptors) all.push_back(entry.second);
  for (Acceptor* a : all) CloseAcceptor(a);
}

}  // namespace

void InitAcceptor(Napi::Env env, Napi::Object exports) {
  auto* m = new AcceptorModule();
  m->env = env;
  napi_add_async_cleanup_hook(env, AsyncCleanup, m, nullptr);
  exports.Set("acceptorStart", Napi::Function::New(env, AcceptorStart, "acceptorStart", m));
  exports.Set("acceptorStop", Napi::Function::New(env, AcceptorStop, "acceptorStop", m));
  exports.Set("acceptorStats", Napi::Function::New(env, AcceptorStats, "acceptorStats", m));
  exports.Set("acceptorNoFraming", Napi::Function::New(env, AcceptorNoFraming, "acceptorNoFraming", m));
  exports.Set("acceptorShutdown", Napi::Function::New(env, AcceptorShutdown, "acceptorShutdown", m));
}

}  // namespace sidelane
