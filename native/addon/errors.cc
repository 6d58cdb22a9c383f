// Error construction for the addon (see errors.h).
#include "errors.h"

#include <cerrno>
#include <cstring>
#include <string>

namespace sidelane {
namespace {

struct ErrorClasses {
  Napi::FunctionReference system_error;
};

ErrorClasses* Classes(Napi::Env env) { return env.GetInstanceData<ErrorClasses>(); }

Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) {
    Napi::TypeError::New(env, "setErrorClass expects a constructor").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Classes(env)->system_error = Napi::Persistent(info[0].As<Napi::Function>());
  return env.Undefined();
}

}  // namespace

const char* ErrnoName(int err) {
  switch (err) {
#define E(name) \
  case name:    \
    return #name;
    E(EPERM) E(ENOENT) E(EINTR) E(EBADF) E(EAGAIN) E(ENOMEM) E(EACCES) E(EFAULT) E(EBUSY) E(EEXIST) E(EINVAL)
    E(ENFILE) E(EMFILE) E(ENOSPC) E(EPIPE) E(ENOPROTOOPT) E(EPROTONOSUPPORT) E(EOPNOTSUPP) E(EAFNOSUPPORT)
    E(EADDRINUSE) E(EADDRNOTAVAIL) E(ENETDOWN) E(ENETUNREACH) E(ECONNABORTED) E(ECONNRESET) E(ENOBUFS)
    E(EISCONN) E(ENOTCONN) E(ETIMEDOUT) E(ECONNREFUSED) E(EHOSTDOWN) E(EHOSTUNREACH) E(EALREADY) E(EINPROGRESS)
    E(ENOTSOCK) E(ENOSYS) E(ECANCELED)
#undef E
    default:
      return "EUNKNOWN";
  }
}

Napi::Value MakeErrnoError(Napi::Env env, int err, const char* syscall, const char* context) {
  std::string message = std::string(context) + ": " + syscall + " failed: " + ErrnoName(err) + " (" +
                        std::strerror(err) + ")";
  Napi::Object props = Napi::Object::New(env);
  props.Set("errno", Napi::Number::New(env, err));
  props.Set("code", Napi::String::New(env, ErrnoName(err)));
  props.Set("syscall", Napi::String::New(env, syscall));
  props.Set("context", Napi::String::New(env, context));
  ErrorClasses* classes = Classes(env);
  if (classes != nullptr && !classes->system_error.IsEmpty()) {
    return classes->system_error.New({Napi::String::New(env, message), props});
  }
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e.Value();
}

void ThrowErrno(Napi::Env env, int err, const char* syscall, const char* context) {
  Napi::Value error = MakeErrnoError(env, err, syscall, context);
  if (!env.IsExceptionPending()) Napi::Error(env, error).ThrowAsJavaScriptException();
}

void ThrowInvalid(Napi::Env env, const char* message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
}

void InitErrors(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new ErrorClasses());
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass, "setErrorClass"));
}

}  // namespace sidelane
