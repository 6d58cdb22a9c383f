// Socket primitives Node cannot do itself: transparent (TPROXY) listeners, upstream connects that carry SO_MARK
// and a spoofed source address from the first SYN, SO_ORIGINAL_DST for the REDIRECT baseline, and socket cookies.
#pragma once
#include <napi.h>

namespace sidelane {
void InitSockets(Napi::Env env, Napi::Object exports);
}
