// The native relay: moves bytes between two connected TCP sockets on native threads (epoll + splice through
// pooled pipes), forwarding FIN as FIN and RST as RST, and reports each finished relay to JavaScript in batches.
#pragma once
#include <napi.h>

namespace sidelane {
void InitRelay(Napi::Env env, Napi::Object exports);
}
