// Privilege reduction (see privileges.h). Raw system calls, no libcap: capget/capset with the v3 ABI, prctl for the
// bounding and ambient sets, keep-caps and no_new_privs, setresuid/setresgid/setgroups as raw syscalls so they
// change this thread only (glibc's wrappers would signal every thread). JS validates and decides; this executes.
#include "privileges.h"

#include <linux/capability.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "errors.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

namespace sidelane {
namespace {

struct CapSets {
  uint64_t effective = 0;
  uint64_t permitted = 0;
  uint64_t inheritable = 0;
};

bool GetCaps(CapSets* out) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  out->effective = data[0].effective | (static_cast<uint64_t>(data[1].effective) << 32);
  out->permitted = data[0].permitted | (static_cast<uint64_t>(data[1].permitted) << 32);
  out->inheritable = data[0].inheritable | (static_cast<uint64_t>(data[1].inheritable) << 32);
  return true;
}

bool SetCaps(uint64_t effective, uint64_t permitted, uint64_t inheritable) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  data[0].effective = static_cast<uint32_t>(effective);
  data[1].effective = static_cast<uint32_t>(effective >> 32);
  data[0].permitted = static_cast<uint32_t>(permitted);
  data[1].permitted = static_cast<uint32_t>(permitted >> 32);
  data[0].inheritable = static_cast<uint32_t>(inheritable);
  data[1].inheritable = static_cast<uint32_t>(inheritable >> 32);
  return syscall(SYS_capset, &header, data) == 0;
}

bool Has(uint64_t set, int cap) { return (set >> cap) & 1; }

// The highest capability this kernel knows (PR_CAPBSET_READ answers EINVAL past it).
int LastCap() {
  int last = 0;
  for (int c = 0; c < 64; c++)
    if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) >= 0) last = c;
  return last;
}

uint64_t BigIntMask(const Napi::Value& v, bool* ok) {
  bool lossless = true;
  uint64_t mask = v.As<Napi::BigInt>().Uint64Value(&lossless);
  *ok = lossless;
  return mask;
}

// After the first change there is no way back to a consistent process: say what failed and exit.
[[noreturn]] void Fail(const char* step, int err) {
  std::string line = std::string("sidelane: dropping privileges failed at ") + step + ": " + std::strerror(err) + " (" +
                     ErrnoName(err) + "); exiting\n";
  ssize_t ignored = write(2, line.data(), line.size());
  (void)ignored;
  _exit(1);
}

// reduceAndExec({uid, gid, clearGroups, keep: bigint mask, dropBounding, file, argv: string[], env: string[]})
// Never returns on success. Throws (nothing changed yet) when a precondition fails.
Napi::Value ReduceAndExec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsObject()) {
    ThrowInvalid(env, "reduceAndExec expects one options object");
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  if (!o.Get("uid").IsNumber() || !o.Get("gid").IsNumber() || !o.Get("keep").IsBigInt() || !o.Get("file").IsString() ||
      !o.Get("argv").IsArray() || !o.Get("env").IsArray()) {
    ThrowInvalid(env, "reduceAndExec expects {uid, gid, keep: bigint, dropBounding, file, argv, env}");
    return env.Undefined();
  }
  const uid_t uid = static_cast<uid_t>(o.Get("uid").As<Napi::Number>().Uint32Value());
  const gid_t gid = static_cast<gid_t>(o.Get("gid").As<Napi::Number>().Uint32Value());
  bool lossless = false;
  const uint64_t keep = BigIntMask(o.Get("keep"), &lossless);
  const bool dropBounding = o.Get("dropBounding").ToBoolean().Value();
  const bool clearGroups = o.Get("clearGroups").ToBoolean().Value();
  const std::string file = o.Get("file").As<Napi::String>().Utf8Value();
  std::vector<std::string> argvStore, envStore;
  for (auto* pair : {&argvStore, &envStore}) {
    Napi::Array a = o.Get(pair == &argvStore ? "argv" : "env").As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value item = a.Get(i);
      if (!item.IsString()) {
        ThrowInvalid(env, "reduceAndExec: argv and env must be strings");
        return env.Undefined();
      }
      pair->push_back(item.As<Napi::String>().Utf8Value());
    }
  }
  // Everything that may allocate or fail harmlessly happens before the first change.
  std::vector<char*> argv, envp;
  for (auto& s : argvStore) argv.push_back(s.data());
  argv.push_back(nullptr);
  for (auto& s : envStore) envp.push_back(s.data());
  envp.push_back(nullptr);
  CapSets now;
  if (!GetCaps(&now)) {
    ThrowErrno(env, errno, "capget", "reading this process's capabilities");
    return env.Undefined();
  }
  const int last = LastCap();
  if (!lossless || (last < 63 && (keep >> (last + 1)) != 0)) {
    ThrowInvalid(env, "reduceAndExec: keep names a capability this kernel does not have");
    return env.Undefined();
  }
  if ((keep & ~now.permitted) != 0) {
    ThrowErrno(env, EPERM, "capset", "keeping a capability this process does not have");
    return env.Undefined();
  }
  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  getresuid(&ruid, &euid, &suid);
  getresgid(&rgid, &egid, &sgid);
  const bool changeUid = ruid != uid || euid != uid || suid != uid;
  const bool changeGid = rgid != gid || egid != gid || sgid != gid || (clearGroups && getgroups(0, nullptr) > 0);
  if ((changeUid && !Has(now.effective, CAP_SETUID)) || (changeGid && !Has(now.effective, CAP_SETGID))) {
    ThrowErrno(env, EPERM, changeUid ? "setresuid" : "setresgid", "switching to the proxy user (needs CAP_SETUID and CAP_SETGID)");
    return env.Undefined();
  }
  if (dropBounding && !Has(now.effective, CAP_SETPCAP)) {
    ThrowErrno(env, EPERM, "prctl(PR_CAPBSET_DROP)", "dropping the bounding set (needs CAP_SETPCAP)");
    return env.Undefined();
  }

  // From here on, a failure exits the process (Fail).
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) Fail("prctl(PR_SET_KEEPCAPS)", errno);
  if (dropBounding) {
    for (int c = 0; c <= last; c++)
      if (!Has(keep, c) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0) Fail("prctl(PR_CAPBSET_DROP)", errno);
  }
  if (changeGid) {
    if (clearGroups && syscall(SYS_setgroups, 0, nullptr) != 0) Fail("setgroups", errno);
    if (syscall(SYS_setresgid, gid, gid, gid) != 0) Fail("setresgid", errno);
  }
  if (changeUid && syscall(SYS_setresuid, uid, uid, uid) != 0) Fail("setresuid", errno);
  if (!SetCaps(keep, keep, keep)) Fail("capset", errno);
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) Fail("prctl(PR_CAP_AMBIENT_CLEAR_ALL)", errno);
  // Ambient capabilities survive execve() of an ordinary program: the re-executed proxy and the workers it forks.
  for (int c = 0; c <= last; c++)
    if (Has(keep, c) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) != 0) Fail("prctl(PR_CAP_AMBIENT_RAISE)", errno);
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) Fail("prctl(PR_SET_KEEPCAPS)", errno);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Fail("prctl(PR_SET_NO_NEW_PRIVS)", errno);
  // Nothing but stdio crosses into the new program: it rebuilds everything, and an inherited descriptor opened
  // with the old privileges would outlive them. Node marks its stdio close-on-exec; the new program must keep
  // writing where this one did.
#ifdef SYS_close_range
  syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */);
#endif
  for (int fd = 0; fd <= 2; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0 && (flags & FD_CLOEXEC) != 0) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  }
  execve(file.c_str(), argv.data(), envp.data());
  Fail("execve", errno);
}

// setNoNewPrivs(): no_new_privs for this thread and every process it starts (the workers are forked from it).
Napi::Value SetNoNewPrivs(const Napi::CallbackInfo& info) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ThrowErrno(info.Env(), errno, "prctl(PR_SET_NO_NEW_PRIVS)", "setting no_new_privs");
  return info.Env().Undefined();
}

// lastCapability(): the highest capability number this kernel knows.
Napi::Value LastCapability(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), LastCap()); }

}  // namespace

void InitPrivileges(Napi::Env env, Napi::Object exports) {
  exports.Set("reduceAndExec", Napi::Function::New(env, ReduceAndExec, "reduceAndExec"));
  exports.Set("setNoNewPrivs", Napi::Function::New(env, SetNoNewPrivs, "setNoNewPrivs"));
  exports.Set("lastCapability", Napi::Function::New(env, LastCapability, "lastCapability"));
}

}  // namespace sidelane
