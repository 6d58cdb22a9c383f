// In-process nftables: libnftables is loaded at run time (dlopen), so the addon builds and loads on hosts without
// it and the iptables backend keeps working there. One call runs one script as one atomic transaction.
#pragma once
#include <napi.h>

namespace sidelane {
void InitNft(Napi::Env env, Napi::Object exports);
}
