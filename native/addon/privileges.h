// Dropping privileges for `sidelane run` (issue 10): switch to the proxy's user, keep only the capabilities it
// needs (bounding, permitted, effective, inheritable and ambient sets), set no_new_privs, then re-execute the
// program. Credentials are per thread in Linux and Node runs several threads, so the reduced credentials are
// made on the calling (main) thread and execve() turns them into the whole new process's.
#pragma once
#include <napi.h>

namespace sidelane {
void InitPrivileges(Napi::Env env, Napi::Object exports);
}
