// libnftables bridge (see nft.h).
#include "nft.h"

#include <dlfcn.h>

#include <string>

namespace sidelane {
namespace {

// The subset of libnftables' API used here (nftables/libnftables.h); declared locally so no header is needed.
struct nft_ctx;
constexpr unsigned kNftCtxDefault = 0;
constexpr unsigned kNftOutputHandle = 1u << 3;
constexpr unsigned kNftOutputJson = 1u << 4;

struct NftApi {
  bool loaded = false;
  std::string load_error;
  nft_ctx* (*ctx_new)(unsigned);
  void (*ctx_free)(nft_ctx*);
  int (*buffer_output)(nft_ctx*);
  int (*buffer_error)(nft_ctx*);
  const char* (*get_output)(nft_ctx*);
  const char* (*get_error)(nft_ctx*);
  int (*run_cmd)(nft_ctx*, const char*);
  void (*output_set_flags)(nft_ctx*, unsigned);
};

NftApi* Api() {
  static NftApi api;
  static bool tried = false;
  if (tried) return &api;
  tried = true;
  void* lib = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* e = dlerror();
    api.load_error = e ? e : "dlopen(libnftables.so.1) failed";
    return &api;
  }
  api.ctx_new = reinterpret_cast<nft_ctx* (*)(unsigned)>(dlsym(lib, "nft_ctx_new"));
  api.ctx_free = reinterpret_cast<void (*)(nft_ctx*)>(dlsym(lib, "nft_ctx_free"));
  api.buffer_output = reinterpret_cast<int (*)(nft_ctx*)>(dlsym(lib, "nft_ctx_buffer_output"));
  api.buffer_error = reinterpret_cast<int (*)(nft_ctx*)>(dlsym(lib, "nft_ctx_buffer_error"));
  api.get_output = reinterpret_cast<const char* (*)(nft_ctx*)>(dlsym(lib, "nft_ctx_get_output_buffer"));
  api.get_error = reinterpret_cast<const char* (*)(nft_ctx*)>(dlsym(lib, "nft_ctx_get_error_buffer"));
  api.run_cmd = reinterpret_cast<int (*)(nft_ctx*, const char*)>(dlsym(lib, "nft_run_cmd_from_buffer"));
  api.output_set_flags = reinterpret_cast<void (*)(nft_ctx*, unsigned)>(dlsym(lib, "nft_ctx_output_set_flags"));
  if (!api.ctx_new || !api.ctx_free || !api.buffer_output || !api.buffer_error || !api.get_output ||
      !api.get_error || !api.run_cmd || !api.output_set_flags) {
    api.load_error = "libnftables.so.1 lacks an expected symbol";
    return &api;
  }
  api.loaded = true;
  return &api;
}

Napi::Value NftAvailable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NftApi* api = Api();
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", api->loaded);
  if (!api->loaded) o.Set("reason", api->load_error);
  return o;
}

// nftRun(script, {json, handles}) -> {ok, output, error}. The script runs as one transaction (all or nothing).
Napi::Value NftRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "nftRun expects a script string").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  NftApi* api = Api();
  if (!api->loaded) {
    Napi::Error::New(env, "libnftables is not available: " + api->load_error).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  unsigned flags = 0;
  if (info.Length() > 1 && info[1].IsObject()) {
    Napi::Object o = info[1].As<Napi::Object>();
    if (o.Get("json").ToBoolean()) flags |= kNftOutputJson;
    if (o.Get("handles").ToBoolean()) flags |= kNftOutputHandle;
  }
  std::string script = info[0].As<Napi::String>().Utf8Value();
  nft_ctx* ctx = api->ctx_new(kNftCtxDefault);
  if (ctx == nullptr) {
    Napi::Error::New(env, "nft_ctx_new failed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  api->output_set_flags(ctx, flags);
  api->buffer_output(ctx);
  api->buffer_error(ctx);
  int rc = api->run_cmd(ctx, script.c_str());
  Napi::Object result = Napi::Object::New(env);
  result.Set("ok", rc == 0);
  const char* out = api->get_output(ctx);
  const char* err = api->get_error(ctx);
  result.Set("output", out ? out : "");
  result.Set("error", err ? err : "");
  api->ctx_free(ctx);
  return result;
}

}  // namespace

void InitNft(Napi::Env env, Napi::Object exports) {
  exports.Set("nftAvailable", Napi::Function::New(env, NftAvailable, "nftAvailable"));
  exports.Set("nftRun", Napi::Function::New(env, NftRun, "nftRun"));
}

}  // namespace sidelane
