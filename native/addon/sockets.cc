// Socket primitives (see sockets.h). Arguments arrive validated by src/native/addon.ts; this file only executes.
#include "sockets.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/netfilter_ipv4.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <unordered_map>

#include "errors.h"

#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace sidelane {
namespace {

// Source-port picks for preserved-source legs. Seeded from the kernel once per process: libc's random() is never
// seeded, so every worker process (and every sidecar) walked the same port sequence and the workers kept trying the
// ports their siblings had just used — under churn some connects ran out of attempts (EADDRNOTAVAIL, found by the
// load test). Used on the JS thread only.
std::minstd_rand& PortPicker() {
  static std::minstd_rand picker([] {
    uint32_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != static_cast<ssize_t>(sizeof(seed))) {
      seed = static_cast<uint32_t>(getpid()) ^ static_cast<uint32_t>(reinterpret_cast<uintptr_t>(&seed));
    }
    return seed == 0 ? 1u : seed;
  }());
  return picker;
}

struct SockAddr {
  sockaddr_storage storage{};
  socklen_t len = 0;
};

bool ParseAddress(int family, const std::string& text, int port, SockAddr* out) {
  std::memset(&out->storage, 0, sizeof(out->storage));
  if (family == 4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&out->storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, text.c_str(), &sin->sin_addr) != 1) return false;
    out->len = sizeof(sockaddr_in);
    return true;
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out->storage);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET6, text.c_str(), &sin6->sin6_addr) != 1) return false;
  out->len = sizeof(sockaddr_in6);
  return true;
}

Napi::Object AddressToObject(Napi::Env env, const sockaddr_storage& ss) {
  char buf[INET6_ADDRSTRLEN] = {0};
  Napi::Object o = Napi::Object::New(env);
  if (ss.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
    o.Set("family", 4);
    o.Set("address", buf);
    o.Set("port", ntohs(sin->sin_port));
  } else {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
    o.Set("family", 6);
    o.Set("address", buf);
    o.Set("port", ntohs(sin6->sin6_port));
  }
  return o;
}

int IntOption(const Napi::Object& o, const char* key, int fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : fallback;
}

uint32_t MarkOption(const Napi::Object& o) {
  Napi::Value v = o.Get("mark");
  return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : 0;
}

bool BoolOption(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() && v.As<Napi::Boolean>().Value();
}

// Sets the transparent option for the family; IP_TRANSPARENT on an AF_INET6 socket covers v4-mapped traffic too.
int SetTransparent(int fd, int family) {
  int one = 1;
  if (family == 6) {
    if (setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one)) != 0) return -1;
    // A dual-stack v6 socket can also see v4 flows; ignore failure (v6-only sockets reject nothing here).
    setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one));
    return 0;
  }
  return setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one));
}

// listen({family, address, port, transparent, reusePort, mark, backlog, v6Only}) -> fd
Napi::Value Listen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    ThrowInvalid(env, "listen expects an options object");
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  int family = IntOption(o, "family", 4);
  std::string address = o.Get("address").ToString().Utf8Value();
  int port = IntOption(o, "port", 0);
  SockAddr addr;
  if (!ParseAddress(family, address, port, &addr)) {
    ThrowInvalid(env, "listen: address does not parse for its family");
    return env.Undefined();
  }
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ThrowErrno(env, errno, "socket", "creating a listening socket");
    return env.Undefined();
  }
  int one = 1;
  const char* failed = nullptr;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) failed = "setsockopt(SO_REUSEADDR)";
  if (!failed && BoolOption(o, "reusePort") && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
    failed = "setsockopt(SO_REUSEPORT)";
  if (!failed && family == 6) {
    int v6only = BoolOption(o, "v6Only") ? 1 : 0;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) != 0) failed = "setsockopt(IPV6_V6ONLY)";
  }
  if (!failed && BoolOption(o, "transparent") && SetTransparent(fd, family) != 0)
    failed = family == 6 ? "setsockopt(IPV6_TRANSPARENT)" : "setsockopt(IP_TRANSPARENT)";
  uint32_t mark = MarkOption(o);
  if (!failed && mark != 0 && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0)
    failed = "setsockopt(SO_MARK)";
  if (!failed && bind(fd, reinterpret_cast<sockaddr*>(&addr.storage), addr.len) != 0) failed = "bind";
  if (!failed && listen(fd, IntOption(o, "backlog", 4096)) != 0) failed = "listen";
  if (failed) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, failed, ("listening on " + address + ":" + std::to_string(port)).c_str());
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

// ---- asynchronous connect -------------------------------------------------------------------------------------
// One JS completion callback (set once) receives (fd, errno); pending connects are keyed by fd, so there is no
// per-connection closure or reference on either side.

struct PendingConnect {
  uv_poll_t poll;
  int fd;
};

struct ConnectState {
  Napi::FunctionReference on_complete;
  std::unordered_map<int, PendingConnect*> pending;
  napi_async_context async_context = nullptr;
};

ConnectState* State() {
  // Never destroyed: a static's destructor would run napi_delete_reference at exit(), after Node freed the env
  // (valgrind: invalid write in napi_delete_reference from ~ConnectState).
  static ConnectState* state = new ConnectState();
  return state;
}

napi_env g_env = nullptr;
uv_loop_t* g_loop = nullptr;

void FreePoll(uv_handle_t* handle) { delete reinterpret_cast<PendingConnect*>(handle->data); }

void FinishPending(PendingConnect* p) {
  State()->pending.erase(p->fd);
  uv_poll_stop(&p->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&p->poll), FreePoll);
}

void OnWritable(uv_poll_t* handle, int status, int events) {
  auto* p = reinterpret_cast<PendingConnect*>(handle->data);
  int fd = p->fd;
  int err = 0;
  socklen_t len = sizeof(err);
  // libuv reports POLLERR as UV_EBADF; the socket's own SO_ERROR says what really happened.
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err == 0 && status < 0) err = -status;
  FinishPending(p);
  if (err != 0) close(fd);
  Napi::Env env(g_env);
  Napi::HandleScope scope(env);
  ConnectState* s = State();
  if (s->on_complete.IsEmpty()) return;
  s->on_complete.MakeCallback(env.Global(), {Napi::Number::New(env, fd), Napi::Number::New(env, err)},
                              s->async_context);
}

Napi::Value SetConnectCallback(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) {
    ThrowInvalid(env, "setConnectCallback expects a function");
    return env.Undefined();
  }
  ConnectState* s = State();
  s->on_complete = Napi::Persistent(info[0].As<Napi::Function>());
  if (s->async_context == nullptr) {
    napi_value resource_name;
    napi_create_string_utf8(env, "sidelane.connect", NAPI_AUTO_LENGTH, &resource_name);
    napi_async_init(env, nullptr, resource_name, &s->async_context);
  }
  g_env = env;
  napi_get_uv_event_loop(env, &g_loop);
  return env.Undefined();
}

struct ConnectArgs {
  int family = 4;
  SockAddr dst;
  bool bind_source = false;
  SockAddr src;
  int source_port = 0;
  int port_min = 0;
  int port_max = 0;
  uint32_t mark = 0;
  bool transparent = false;
  bool no_delay = false;
};

// Opens, marks, binds and connects a non-blocking socket. Returns the fd with *err = 0 (connected), EINPROGRESS
// (the completion arrives through the callback) or another errno (the fd is closed, -1 returned). A failure before
// connect() (socket, setsockopt, bind) throws and returns -2.
int StartConnect(Napi::Env env, const ConnectArgs& a, const std::string& address, int* err_out) {
  SockAddr src = a.src;
  bool pick_port = a.bind_source && a.source_port == 0 && a.port_min > 0 && a.port_max >= a.port_min;
  // With a source port range, the proxy picks the port itself (random, retried on a 4-tuple clash): a spoofed
  // client address must not get a port the client may itself use next, or the client's next connection would
  // collide with the proxy's leg to the app (DESIGN 3.2). The kernel would pick from the shared ephemeral range.
  int attempts = pick_port ? 64 : 1;
  int fd = -1;
  int rc = -1;
  for (int attempt = 0; attempt < attempts; attempt++) {
    fd = socket(a.family == 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      ThrowErrno(env, errno, "socket", "creating an upstream socket");
      return -2;
    }
    const char* failed = nullptr;
    int one = 1;
    if (a.mark != 0 && setsockopt(fd, SOL_SOCKET, SO_MARK, &a.mark, sizeof(a.mark)) != 0) failed = "setsockopt(SO_MARK)";
    if (!failed && a.no_delay && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
      failed = "setsockopt(TCP_NODELAY)";
    if (!failed && a.bind_source) {
      if (a.transparent && SetTransparent(fd, a.family) != 0)
        failed = a.family == 6 ? "setsockopt(IPV6_TRANSPARENT)" : "setsockopt(IP_TRANSPARENT)";
      if (!failed && pick_port) {
        // Several legs may share one spoofed address and port towards different destinations.
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        uint16_t port = static_cast<uint16_t>(a.port_min + static_cast<int>(PortPicker()() % static_cast<uint32_t>(a.port_max - a.port_min + 1)));
        if (a.family == 4) reinterpret_cast<sockaddr_in*>(&src.storage)->sin_port = htons(port);
        else reinterpret_cast<sockaddr_in6*>(&src.storage)->sin6_port = htons(port);
      } else if (!failed && a.source_port == 0) {
        // Choose the source port at connect() time, from the full 4-tuple, so thousands of connections from one
        // client address do not exhaust the ephemeral range (the kernel would otherwise reserve it at bind()).
        setsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
      }
      if (!failed && bind(fd, reinterpret_cast<const sockaddr*>(&src.storage), src.len) != 0) {
        if (pick_port && errno == EADDRINUSE && attempt + 1 < attempts) {
          close(fd);
          continue;
        }
        failed = "bind";
      }
    }
    if (failed) {
      int err = errno;
      close(fd);
      ThrowErrno(env, err, failed, ("connecting to " + address).c_str());
      return -2;
    }
    do {
      rc = connect(fd, reinterpret_cast<const sockaddr*>(&a.dst.storage), a.dst.len);
    } while (rc != 0 && errno == EINTR);
    // The 4-tuple is taken (a chosen port already connected to this destination): try another port.
    if (rc != 0 && errno == EADDRNOTAVAIL && pick_port && attempt + 1 < attempts) {
      close(fd);
      continue;
    }
    break;
  }
  int err = rc == 0 ? 0 : errno;
  if (err == EINPROGRESS) {
    // Loopback (and other local) handshakes complete inside the connect() call's softirq, yet connect() still
    // says EINPROGRESS: one zero-timeout poll spares them the uv_poll round trip through the loop.
    pollfd pfd{fd, POLLOUT, 0};
    if (poll(&pfd, 1, 0) == 1) {
      int so_error = 0;
      socklen_t len = sizeof(so_error);
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) == 0) err = so_error;
    }
  }
  if (err == EINPROGRESS && g_loop == nullptr) {
    close(fd);
    ThrowInvalid(env, "connect: setConnectCallback must be called first");
    return -2;
  }
  if (err == EINPROGRESS) {
    auto* p = new PendingConnect();
    p->fd = fd;
    p->poll.data = p;
    int uv_err = uv_poll_init(g_loop, &p->poll, fd);
    if (uv_err == 0) uv_err = uv_poll_start(&p->poll, UV_WRITABLE, OnWritable);
    if (uv_err != 0) {
      delete p;
      close(fd);
      ThrowErrno(env, -uv_err, "uv_poll_start", "waiting for an upstream connect");
      return -2;
    }
    State()->pending[fd] = p;
  } else if (err != 0) {
    close(fd);
    fd = -1;
  }
  *err_out = err;
  return fd;
}

// connect({family, address, port, sourceAddress?, sourcePort?, sourcePortMin?, sourcePortMax?, transparent, mark,
// noDelay}) -> {fd, errno, code?}: errno 0 = connected already, EINPROGRESS = completion arrives through the callback.
Napi::Value Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    ThrowInvalid(env, "connect expects an options object");
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  ConnectArgs a;
  a.family = IntOption(o, "family", 4);
  std::string address = o.Get("address").ToString().Utf8Value();
  if (!ParseAddress(a.family, address, IntOption(o, "port", 0), &a.dst)) {
    ThrowInvalid(env, "connect: address does not parse for its family");
    return env.Undefined();
  }
  a.bind_source = o.Get("sourceAddress").IsString();
  a.source_port = IntOption(o, "sourcePort", 0);
  if (a.bind_source &&
      !ParseAddress(a.family, o.Get("sourceAddress").As<Napi::String>().Utf8Value(), a.source_port, &a.src)) {
    ThrowInvalid(env, "connect: sourceAddress does not parse for its family");
    return env.Undefined();
  }
  a.mark = MarkOption(o);
  a.transparent = BoolOption(o, "transparent");
  a.no_delay = BoolOption(o, "noDelay");
  a.port_min = IntOption(o, "sourcePortMin", 0);
  a.port_max = IntOption(o, "sourcePortMax", 0);
  int err = 0;
  int fd = StartConnect(env, a, address, &err);
  if (fd == -2) return env.Undefined();
  Napi::Object result = Napi::Object::New(env);
  result.Set("fd", fd);
  result.Set("errno", err);
  if (err != 0 && err != EINPROGRESS) result.Set("code", ErrnoName(err));
  return result;
}

// connectTo(family, address, port, sourceAddress|null, sourcePort, sourcePortMin, sourcePortMax, flags, mark) -> n:
// the per-connection form of connect() — positional arguments and a number back, so no object is built or read on
// either side. n >= 0: fd = n >> 1, pending (EINPROGRESS) when n & 1; n < 0: failed with errno -n. flags: 1
// transparent, 2 TCP_NODELAY.
Napi::Value ConnectTo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 9 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsNumber()) {
    ThrowInvalid(env, "connectTo expects (family, address, port, sourceAddress, sourcePort, min, max, flags, mark)");
    return env.Undefined();
  }
  ConnectArgs a;
  a.family = info[0].As<Napi::Number>().Int32Value();
  std::string address = info[1].As<Napi::String>().Utf8Value();
  if (!ParseAddress(a.family, address, info[2].As<Napi::Number>().Int32Value(), &a.dst)) {
    ThrowInvalid(env, "connectTo: address does not parse for its family");
    return env.Undefined();
  }
  a.source_port = info[4].As<Napi::Number>().Int32Value();
  a.bind_source = info[3].IsString();
  if (a.bind_source && !ParseAddress(a.family, info[3].As<Napi::String>().Utf8Value(), a.source_port, &a.src)) {
    ThrowInvalid(env, "connectTo: sourceAddress does not parse for its family");
    return env.Undefined();
  }
  a.port_min = info[5].As<Napi::Number>().Int32Value();
  a.port_max = info[6].As<Napi::Number>().Int32Value();
  int flags = info[7].As<Napi::Number>().Int32Value();
  a.transparent = (flags & 1) != 0;
  a.no_delay = (flags & 2) != 0;
  a.mark = info[8].As<Napi::Number>().Uint32Value();
  int err = 0;
  int fd = StartConnect(env, a, address, &err);
  if (fd == -2) return env.Undefined();
  if (err == 0) return Napi::Number::New(env, fd * 2);
  if (err == EINPROGRESS) return Napi::Number::New(env, fd * 2 + 1);
  return Napi::Number::New(env, -err);
}

// cancelConnect(fd): abandon a pending connect (timeout, downstream gone). The fd is closed; no callback follows.
Napi::Value CancelConnect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  auto it = State()->pending.find(fd);
  if (it == State()->pending.end()) return Napi::Boolean::New(env, false);
  FinishPending(it->second);
  close(fd);
  return Napi::Boolean::New(env, true);
}

Napi::Value PendingConnects(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(State()->pending.size()));
}

// ---- per-socket queries -----------------------------------------------------------------------------------------

Napi::Value SetMark(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  uint32_t mark = info[1].As<Napi::Number>().Uint32Value();
  if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0)
    ThrowErrno(env, errno, "setsockopt(SO_MARK)", "marking a socket");
  return env.Undefined();
}

Napi::Value GetOriginalDst(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  int family = info[1].As<Napi::Number>().Int32Value();
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  int rc = family == 6 ? getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &len)
                       : getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &len);
  if (rc != 0) {
    ThrowErrno(env, errno, family == 6 ? "getsockopt(IP6T_SO_ORIGINAL_DST)" : "getsockopt(SO_ORIGINAL_DST)",
               "reading the original destination of a redirected connection");
    return env.Undefined();
  }
  return AddressToObject(env, ss);
}

Napi::Value GetCookie(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  uint64_t cookie = 0;
  socklen_t len = sizeof(cookie);
  if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) != 0) {
    ThrowErrno(env, errno, "getsockopt(SO_COOKIE)", "reading a socket cookie");
    return env.Undefined();
  }
  return Napi::BigInt::New(env, cookie);
}

Napi::Value GetMark(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  uint32_t mark = 0;
  socklen_t len = sizeof(mark);
  if (getsockopt(fd, SOL_SOCKET, SO_MARK, &mark, &len) != 0) {
    ThrowErrno(env, errno, "getsockopt(SO_MARK)", "reading a socket mark");
    return env.Undefined();
  }
  return Napi::Number::New(env, mark);
}

Napi::Value LocalAddress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    ThrowErrno(env, errno, "getsockname", "reading a socket's local address");
    return env.Undefined();
  }
  return AddressToObject(env, ss);
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  close(fd);
  return info.Env().Undefined();
}

// resetFd(fd): close with SO_LINGER {1, 0}, i.e. send RST — how a connection held as a raw fd is refused.
Napi::Value ResetFd(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  close(fd);
  return info.Env().Undefined();
}

// peerReset(fd) -> true when the connection was reset (or failed) by the peer, without consuming any byte: how the
// TCP proxy tells "the client left while we connected" for a connection it holds as a raw fd. A FIN is not a reset
// (the client may have half-closed and still wait for the answer).
Napi::Value PeerReset(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  char byte;
  ssize_t n;
  do {
    n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  bool reset = n < 0 && errno != EAGAIN && errno != EWOULDBLOCK;
  return Napi::Boolean::New(info.Env(), reset);
}

}  // namespace

void InitSockets(Napi::Env env, Napi::Object exports) {
  exports.Set("listen", Napi::Function::New(env, Listen, "listen"));
  exports.Set("connect", Napi::Function::New(env, Connect, "connect"));
  exports.Set("connectTo", Napi::Function::New(env, ConnectTo, "connectTo"));
  exports.Set("setConnectCallback", Napi::Function::New(env, SetConnectCallback, "setConnectCallback"));
  exports.Set("cancelConnect", Napi::Function::New(env, CancelConnect, "cancelConnect"));
  exports.Set("pendingConnects", Napi::Function::New(env, PendingConnects, "pendingConnects"));
  exports.Set("setMark", Napi::Function::New(env, SetMark, "setMark"));
  exports.Set("getMark", Napi::Function::New(env, GetMark, "getMark"));
  exports.Set("getOriginalDst", Napi::Function::New(env, GetOriginalDst, "getOriginalDst"));
  exports.Set("getCookie", Napi::Function::New(env, GetCookie, "getCookie"));
  exports.Set("localAddress", Napi::Function::New(env, LocalAddress, "localAddress"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("resetFd", Napi::Function::New(env, ResetFd, "resetFd"));
  exports.Set("peerReset", Napi::Function::New(env, PeerReset, "peerReset"));
}

}  // namespace sidelane
