// The native acceptor: accepts connections on a listening fd from the JS loop (uv_poll) in batches, with the
// addresses, SO_ORIGINAL_DST and a framed PROXY v2 header per connection, and survives fd exhaustion.
#pragma once
#include <napi.h>

namespace sidelane {
void InitAcceptor(Napi::Env env, Napi::Object exports);
}
