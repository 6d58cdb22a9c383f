// Typed errors for the addon: JavaScript hands its error class over once (better-sqlite3's habit), so every
// failure that crosses into JS is a SidelaneSystemError carrying the errno name and the syscall that failed.
#pragma once
#include <napi.h>

namespace sidelane {

void InitErrors(Napi::Env env, Napi::Object exports);
// Throws a typed system error for `err` (an errno value) raised by `syscall`; `context` says what was being done.
void ThrowErrno(Napi::Env env, int err, const char* syscall, const char* context);
// Builds (without throwing) the same error, for asynchronous callbacks.
Napi::Value MakeErrnoError(Napi::Env env, int err, const char* syscall, const char* context);
// Throws the typed invalid-argument error (JS validates first; this is the native backstop).
void ThrowInvalid(Napi::Env env, const char* message);
const char* ErrnoName(int err);

}  // namespace sidelane
