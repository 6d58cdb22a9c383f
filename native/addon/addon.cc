// Entry point of the sidelane native addon: registers each area's functions on the exports object.
#include <napi.h>

#include "acceptor.h"
#include "errors.h"
#include "nft.h"
#include "privileges.h"
#include "relay.h"
#include "sockets.h"

namespace {
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  sidelane::InitErrors(env, exports);
  sidelane::InitSockets(env, exports);
  sidelane::InitNft(env, exports);
  sidelane::InitRelay(env, exports);
  sidelane::InitAcceptor(env, exports);
  sidelane::InitPrivileges(env, exports);
  return exports;
}
}  // namespace

NODE_API_MODULE(sidelane_addon, Init)
