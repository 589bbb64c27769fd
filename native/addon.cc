// Alcor Agent native core (N-API): BPF maps and XDP programs through raw bpf(2)/rtnetlink, AF_PACKET sockets, and a
// few hot-path helpers. The typed JavaScript face is native/index.ts; keep the two in step.
//
// Conventions:
// - Every failure becomes a JS Error whose message names the call and errno and whose `code` is the errno name
//   ("E2BIG") or an Alcor input code ("EBADKEYSIZE"); see src/sys_error.h. Bad input never aborts the process.
// - Bulk or blocking work (batch map ops, dumps, ELF load, XDP attach) runs on the libuv pool and returns a Promise;
//   the small hot calls (lookup/update/delete of one entry) are synchronous: a syscall here costs ~1.4 µs while a
//   pool round-trip costs tens of µs.
// - Async batch calls read the caller's Buffers in place (no copy): do not modify them until the Promise settles.
#include <fcntl.h>
#include <linux/bpf.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

#include "src/bpf_elf.h"
#include "src/bpf_map.h"
#include "src/netns.h"
#include "src/packet_socket.h"
#include "src/sys_error.h"
#include "src/xdp_link.h"

namespace {

using alcor::OpError;

Napi::Error MakeError(Napi::Env env, const std::string& code, const std::string& message, int err) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  if (err != 0) e.Set("errno", Napi::Number::New(env, err));
  return e;
}

// Runs f and turns C++ exceptions into JS exceptions (the addon is built with C++ exceptions on, N-API's off).
template <typename F>
Napi::Value Guard(const Napi::CallbackInfo& info, F&& f) {
  Napi::Env env = info.Env();
  try {
    return f(env);
  } catch (const OpError& e) {
    MakeError(env, e.code(), e.what(), e.err()).ThrowAsJavaScriptException();
  } catch (const std::bad_alloc&) {
    MakeError(env, "ENOMEM", "native: out of memory", 0).ThrowAsJavaScriptException();
  } catch (const std::exception& e) {
    MakeError(env, "ENATIVE", std::string("native: ") + e.what(), 0).ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

[[noreturn]] void BadArg(const std::string& message) { throw OpError("ERR_INVALID_ARG", message); }

int FdArg(const Napi::CallbackInfo& info, size_t i, const char* fn) {
  if (info.Length() <= i || !info[i].IsNumber()) BadArg(std::string(fn) + ": fd must be a number");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= INT32_MAX) || d != static_cast<int>(d)) BadArg(std::string(fn) + ": fd must be a non-negative integer");
  return static_cast<int>(d);
}

uint32_t U32Arg(const Napi::Value& v, const std::string& what) {
  if (!v.IsNumber()) BadArg(what + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= UINT32_MAX) || d != static_cast<double>(static_cast<uint32_t>(d))) {
    BadArg(what + " must be an integer in 0..2^32-1");
  }
  return static_cast<uint32_t>(d);
}

struct Bytes {
  const uint8_t* data = nullptr;
  size_t len = 0;
};

Bytes BytesArg(const Napi::Value& v, const std::string& what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    BadArg(what + " must be a Buffer or Uint8Array");
  }
  auto arr = v.As<Napi::Uint8Array>();
  return {arr.Data(), arr.ByteLength()};
}

std::string StringArg(const Napi::Value& v, const std::string& what) {
  if (!v.IsString()) BadArg(what + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

std::string OptString(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return "";
  return StringArg(v, std::string("options.") + key);
}

Napi::Object ObjectArg(const Napi::CallbackInfo& info, size_t i, const char* fn) {
  if (info.Length() <= i || !info[i].IsObject()) BadArg(std::string(fn) + ": options object expected");
  return info[i].As<Napi::Object>();
}

Napi::Buffer<uint8_t> ToBuffer(Napi::Env env, const std::vector<uint8_t>& v) {
  return Napi::Buffer<uint8_t>::Copy(env, v.data(), v.size());
}

// A Promise-returning pool task. `work` runs off the JS thread and may throw OpError; `done` builds the result on
// the JS thread. Values passed to Keep() stay alive (and unmoved) until the task settles.
class PromiseTask : public Napi::AsyncWorker {
 public:
  PromiseTask(Napi::Env env, std::function<void()> work, std::function<Napi::Value(Napi::Env)> done)
      : Napi::AsyncWorker(env, "alcor_native"),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        done_(std::move(done)) {}

  void Keep(const Napi::Value& v) { kept_.push_back(Napi::Persistent(v)); }
  Napi::Promise Start() {
    Napi::Promise p = deferred_.Promise();
    Queue();
    return p;
  }

 protected:
  void Execute() override {
    try {
      work_();
    } catch (const OpError& e) {
      Fail(e.code(), e.what(), e.err());
    } catch (const std::bad_alloc&) {
      Fail("ENOMEM", "native: out of memory", 0);
    } catch (const std::exception& e) {
      Fail("ENATIVE", std::string("native: ") + e.what(), 0);
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (failed_) {
      deferred_.Reject(MakeError(env, code_, message_, errno_).Value());
      return;
    }
    Napi::Value v = done_(env);
    if (env.IsExceptionPending()) {
      deferred_.Reject(env.GetAndClearPendingException().Value());
    } else {
      deferred_.Resolve(v);
    }
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  void Fail(const std::string& code, const std::string& message, int err) {
    failed_ = true;
    code_ = code;
    message_ = message;
    errno_ = err;
  }

  Napi::Promise::Deferred deferred_;
  std::function<void()> work_;
  std::function<Napi::Value(Napi::Env)> done_;
  std::vector<Napi::Reference<Napi::Value>> kept_;
  bool failed_ = false;
  std::string code_;
  std::string message_;
  int errno_ = 0;
};

// ---- small helpers kept from the first addon ----

// Internet checksum (RFC 1071) over a Buffer: used when building ARP/DHCP replies in bulk.
Napi::Value InetChecksum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) {
    Napi::TypeError::New(env, "inetChecksum(buf): buf must be a Buffer or Uint8Array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto arr = info[0].As<Napi::Uint8Array>();
  const uint8_t* p = arr.Data();
  size_t n = arr.ByteLength();
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t(p[i]) << 8) | p[i + 1];
  if (n & 1) sum += uint32_t(p[n - 1]) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return Napi::Number::New(env, static_cast<uint16_t>(~sum));
}

Napi::Value Noop(const Napi::CallbackInfo& info) { return info.Env().Undefined(); }

// ---- BPF maps ----

Napi::Object MapInfoObject(Napi::Env env, const alcor::MapInfo& m) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("type", m.type);
  o.Set("id", m.id);
  o.Set("keySize", m.keySize);
  o.Set("valueSize", m.valueSize);
  o.Set("valueBytes", m.valueBytes);
  o.Set("maxEntries", m.maxEntries);
  o.Set("flags", m.flags);
  o.Set("name", m.name);
  o.Set("perCpu", m.perCpu);
  return o;
}

Napi::Value MapCreate(const Napi::CallbackInfo& info) {
  return Guard(info, [&](Napi::Env env) -> Napi::Value {
    Napi::Object o = ObjectArg(info, 0, "mapCreate");
    uint32_t flags = o.Get("flags").IsUndefined() ? 0 : U32Arg(o.Get("flags"), "options.flags");
    int fd = alcor::MapCreate(U32Arg(o.Get("type"), "options.type"), U32Arg(o.Get("keySize"), "options.keySize"),
                              U32Arg(o.Get("valueSize"), "options.valueSize"),
                              U32Arg(o.Get("maxEntries"), "options.maxEntries"), flags, OptString(o, "name"));
    return Napi::Number::New(env, fd);
  });
}

Napi::Value MapInfo(const Napi::CallbackInfo& info) {
  return Guard(info, [&](Napi::Env env) -> Napi::Value {
    return MapInfoObject(env, alcor::GetMapInfo(FdArg(info, 0, "mapInfo")));
  });
}

Napi::Value ObjPin(const Napi::CallbackInfo& info) {
  return Guard(info, [&](Napi::Env env) -> Napi::Value {
    int fd = FdArg(info, 0, "objPin");
    alcor::ObjPin(fd, StringArg(info[1], "objPin: path"));
    return env.Undefined();
  });
}

Napi::Value ObjGet(const Napi::CallbackInfo& info) {
  return Guard(info, [&](Napi::Env env) -> Napi::Value {
    return Napi::Number::New(env, alcor::ObjGet(StringArg(info[0], "objGet: path")));
  });
}

Napi::Value MapOpenPinned(const Napi::CallbackInfo& info) {
  return Guard(info, [&](Napi::Env env) -> Napi::Value {
    return Napi::Number::New(env, alcor::MapOpenPinned(StringArg(info[0], "mapOpenPinned: path")));
  });
}

Napi::Value MapLookup(const Napi::CallbackInfo& info) {
  return Guard(info, [&](Napi::Env env) -> Napi::Value {
    int fd = FdArg(info, 0, "mapLookup");
    Bytes key = BytesArg(info[1], "mapLookup: key");
    std::vector<uint8_t> value;
    if (!alcor::MapLookup(fd, key.data, key.len, value)) return env.Null();
    return ToBuffer(env, value);
  });
}

uint64_t UpdateFlagsArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || info[i].IsUndefined()) return BPF_ANY;
  uint32_t f = U32Arg(info[i], "update flags");
  if (f != BPF_ANY && f != BPF_NOEXIST && f != BPF_EXIST) BadArg("update flags must be 0 (ANY), 1 (NOEXIST) or 2 (EXIST)");
  return f;
}

Napi::Value MapUpdate(const Napi::CallbackInfo& info) {
  return Guard(info, [&](Napi::Env env) -> Napi::Value {
    int fd = FdArg(info, 0, "mapUpdate");
    Bytes key = BytesArg(info[1], "mapUpdate: key");
    Bytes value = BytesArg(info[2], "mapUpdate: value");
    alcor::MapUpdate(fd, key.data, key.len, value.data, value.len, UpdateFlagsArg(info, 3));
    return env.Undefined();
  });
}

Napi::Value MapDelete(const Napi::CallbackInfo& info) {
  return Guard(info, [&](Napi::Env env) -> Napi::Value {
    int fd = FdArg(info, 0, "mapDelete");
    Bytes key = BytesArg(info[1], "mapDelete: key");
    return Napi::Boolean::New(env, alcor::MapDelete(fd, key.data, key.len));
  });
}

Napi::Value MapNextKey(const Napi::CallbackInfo& info) {
  return Guard(info, [&](Napi::Env env) -> Napi::Value {
    int fd = FdArg(info, 0, "mapNextKey");
    std::vector<uint8_t> next;
    bool found;
    if (info.Length() < 2 || info[1].IsNull() || info[1].IsUndefined()) {
      found = alcor::MapNextKey(fd, nullptr, 0, next);
    } else {
      Bytes key = BytesArg(info[1], "mapNextKey: key");
      found = alcor::MapNextKey(fd, key.data, key.len, next);
    }
    return found ? ToBuffer(env, next) : env.Null();
  });
}

Napi::Object BatchResultObject(Napi::Env env, const alcor::BatchResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("count", r.count);
  o.Set("usedBatch", r.usedBatch);
  return o;
}

Napi::Object DumpObject(Napi::Env env, const alcor::MapDump& d) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("count", d.count);
  o.Set("keys", ToBuffer(env, d.keys));
  o.Set("values", ToBuffer(env, d.values));
  return o;
}

Napi::Value MapUpdateBatchSync(const Napi::CallbackInfo& info) {
  return Guard(info, [&](Napi::Env env) -> Napi::Value {
    int fd = FdArg(info, 0, "mapUpdateBatchSync");
    Bytes keys = BytesArg(info[1], "mapUpdateBatchSync: keys");
    Bytes values = BytesArg(info[2], "mapUpdateBatchSync: values");
    return BatchResultObject(env, alcor::MapUpdateBatch(fd, keys.data, keys.len, values.data, values.len,
                                                        UpdateFlagsArg(info, 3)));
  });
}

Napi::Value MapUpdateBatch(const Napi::CallbackInfo& info) {
  return Guard(info, [&](Napi::Env env) -> Napi::Value {
    int fd = FdArg(info, 0, "mapUpdateBatch");
    Bytes keys = BytesArg(info[1], "mapUpdateBatch: keys");
    Bytes values = BytesArg(info[2], "mapUpdateBatch: values");
    uint64_t flags = UpdateFlagsArg(info, 3);
    alcor::GetMapInfo(fd);  // reject a bad fd now, synchronously
    auto result = std::make_shared<alcor::BatchResult>();
    auto* task = new PromiseTask(
        env, [=] { *result = alcor::MapUpdateBatch(fd, keys.data, keys.len, values.data, values.len, flags); },
        [=](Napi::Env e) -> Napi::Value { return BatchResultObject(e, *result); });
    task->Keep(info[1]);
    task->Keep(info[2]);
    return task->Start();
  });
}

Napi::Value MapDeleteBatchSync(const Napi::CallbackInfo& info) {
  return Guard(info, [&](Napi::Env env) -> Napi::Value {
    int fd = FdArg(info, 0, "mapDeleteBatchSync");
    Bytes keys = BytesArg(info[1], "mapDeleteBatchSync: keys");
    return BatchResultObject(env, alcor::MapDeleteBatch(fd, keys.data, keys.len));
  });
}

Napi::Value MapDeleteBatch(const Napi::CallbackInfo& info) {
  return Guard(info, [&](Napi::Env env) -> Napi::Value {
    int fd = FdArg(info, 0, "mapDeleteBatch");
    Bytes keys = BytesArg(info[1], "mapDeleteBatch: keys");
    alcor::GetMapInfo(fd);
    auto result = std::make_shared<alcor::BatchResult>();
    auto* task = new PromiseTask(
        env, [=] { *result = alcor::MapDeleteBatch(fd, keys.data, keys.len); },
        [=](Napi::Env e) -> Napi::Value { return BatchResultObject(e, *result); });
    task->Keep(info[1]);
    return task->Start();
  });
}

Napi::Value MapDumpSync(const Napi::CallbackInfo& info) {
  return Guard(info, [&](Napi::Env env) -> Napi::Value {
    return DumpObject(env, alcor::MapDumpAll(FdArg(info, 0, "mapDumpSync")));
  });
}

Napi::Value MapDump(const Napi::CallbackInfo& info) {
  return Guard(info, [&](Napi::Env env) -> Napi::Value {
    int fd = FdArg(info, 0, "mapDump");
    alcor::GetMapInfo(fd);
    auto dump = std::make_shared<alcor::MapDump>();
    auto* task = new PromiseTask(
        env, [=] { *dump = alcor::MapDumpAll(fd); }, [=](Napi::Env e) -> Napi::Value { return DumpObject(e, *dump); });
    return task->Start();
  });
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  return Guard(info, [&](Napi::Env env) -> Napi::Value {
    alcor::CloseFd(FdArg(info, 0, "closeFd"));
    return env.Undefined();
  });
}

Napi::Value PossibleCpus(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), alcor::PossibleCpus());
}

// ---- XDP programs ----

alcor::ElfProgramSpec ElfSpecArg(const Napi::Object& o) {
  alcor::ElfProgramSpec spec;
  spec.path = StringArg(o.Get("path"), "options.path");
  spec.section = OptString(o, "section");
  spec.progName = OptString(o, "name");
  Napi::Value maps = o.Get("maps");
  if (!maps.IsUndefined() && !maps.IsNull()) {
    if (!maps.IsObject()) BadArg("options.maps must be an object of map name -> fd");
    Napi::Object m = maps.As<Napi::Object>();
    Napi::Array names = m.GetPropertyNames();
    for (uint32_t i = 0; i < names.Length(); i++) {
      std::string name = names.Get(i).ToString().Utf8Value();
      double d = m.Get(name).IsNumber() ? m.Get(name).As<Napi::Number>().DoubleValue() : -1;
      if (!(d >= 0 && d <= INT32_MAX) || d != static_cast<int>(d)) BadArg("options.maps." + name + " must be an fd");
      spec.mapFds.emplace_back(name, static_cast<int>(d));
    }
  }
  return spec;
}

Napi::Value LoadXdpProgram(const Napi::CallbackInfo& info) {
  return Guard(info, [&](Napi::Env env) -> Napi::Value {
    alcor::ElfProgramSpec spec = ElfSpecArg(ObjectArg(info, 0, "loadXdpProgram"));
    auto prog = std::make_shared<alcor::LoadedProgram>();
    auto* task = new PromiseTask(
        env, [=] { *prog = alcor::LoadXdpFromElf(spec); },
        [=](Napi::Env e) -> Napi::Value {
          Napi::Object o = Napi::Object::New(e);
          o.Set("fd", prog->fd);
          o.Set("id", prog->id);
          o.Set("section", prog->section);
          o.Set("name", prog->name);
          o.Set("insnCount", prog->insnCount);
          Napi::Array maps = Napi::Array::New(e, prog->mapsUsed.size());
          for (size_t i = 0; i < prog->mapsUsed.size(); i++) maps.Set(static_cast<uint32_t>(i), prog->mapsUsed[i]);
          o.Set("mapsUsed", maps);
          return o;
        });
    return task->Start();
  });
}

Napi::Value ElfMapNames(const Napi::CallbackInfo& info) {
  return Guard(info, [&](Napi::Env env) -> Napi::Value {
    std::string path = StringArg(info[0], "elfMapNames: path");
    std::string section = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
    auto names = alcor::ElfMapNames(path, section);
    Napi::Array out = Napi::Array::New(env, names.size());
    for (size_t i = 0; i < names.size(); i++) out.Set(static_cast<uint32_t>(i), names[i]);
    return out;
  });
}

alcor::XdpMode ModeArg(const Napi::Object& o) {
  std::string mode = OptString(o, "mode");
  if (mode.empty() || mode == "auto") return alcor::XdpMode::kAuto;
  if (mode == "native") return alcor::XdpMode::kNative;
  if (mode == "generic") return alcor::XdpMode::kGeneric;
  BadArg("options.mode must be 'auto', 'native' or 'generic'");
}

Napi::Value XdpAttach(const Napi::CallbackInfo& info) {
  return Guard(info, [&](Napi::Env env) -> Napi::Value {
    Napi::Object o = ObjectArg(info, 0, "xdpAttach");
    std::string ifname = StringArg(o.Get("ifname"), "options.ifname");
    std::string netns = OptString(o, "netns");
    int progFd = static_cast<int>(U32Arg(o.Get("progFd"), "options.progFd"));
    alcor::XdpMode mode = ModeArg(o);
    struct Out {
      std::string mode;
      int ifindex = 0;
      std::string nativeError;
    };
    auto out = std::make_shared<Out>();
    auto* task = new PromiseTask(
        env,
        [=] {
          alcor::RunInNetns(netns, [&] {
            out->ifindex = alcor::ResolveIfindex(ifname);
            out->mode = alcor::XdpAttach(out->ifindex, progFd, mode, &out->nativeError);
          });
        },
        [=](Napi::Env e) -> Napi::Value {
          Napi::Object r = Napi::Object::New(e);
          r.Set("mode", out->mode);
          r.Set("ifindex", out->ifindex);
          if (!out->nativeError.empty()) r.Set("nativeError", out->nativeError);
          return r;
        });
    return task->Start();
  });
}

Napi::Value XdpDetach(const Napi::CallbackInfo& info) {
  return Guard(info, [&](Napi::Env env) -> Napi::Value {
    Napi::Object o = ObjectArg(info, 0, "xdpDetach");
    std::string ifname = StringArg(o.Get("ifname"), "options.ifname");
    std::string netns = OptString(o, "netns");
    auto out = std::make_shared<std::pair<std::string, int>>();
    auto* task = new PromiseTask(
        env,
        [=] {
          alcor::RunInNetns(netns, [&] {
            out->second = alcor::ResolveIfindex(ifname);
            out->first = alcor::XdpDetach(out->second);
          });
        },
        [=](Napi::Env e) -> Napi::Value {
          Napi::Object r = Napi::Object::New(e);
          r.Set("detached", out->first);
          r.Set("ifindex", out->second);
          return r;
        });
    return task->Start();
  });
}

Napi::Value XdpQuery(const Napi::CallbackInfo& info) {
  return Guard(info, [&](Napi::Env env) -> Napi::Value {
    Napi::Object o = ObjectArg(info, 0, "xdpQuery");
    std::string ifname = StringArg(o.Get("ifname"), "options.ifname");
    std::string netns = OptString(o, "netns");
    auto out = std::make_shared<alcor::XdpState>();
    auto* task = new PromiseTask(
        env, [=] { alcor::RunInNetns(netns, [&] { *out = alcor::XdpQuery(alcor::ResolveIfindex(ifname)); }); },
        [=](Napi::Env e) -> Napi::Value {
          Napi::Object r = Napi::Object::New(e);
          r.Set("mode", out->mode);
          r.Set("progId", out->progId);
          r.Set("ifindex", out->ifindex);
          return r;
        });
    return task->Start();
  });
}

// ---- AF_PACKET ----

struct PollWatch {
  uv_poll_t handle;
  int fd = -1;
  bool includeOutgoing = false;
  napi_env env = nullptr;
  Napi::FunctionReference callback;
};

// One table per JS thread (main or worker_threads): a poll belongs to the env that started it.
thread_local std::unordered_map<int, PollWatch*> g_polls;

void OnPacketReadable(uv_poll_t* handle, int status, int /*events*/) {
  auto* poll = static_cast<PollWatch*>(handle->data);
  Napi::Env env(poll->env);
  Napi::HandleScope scope(env);
  Napi::Value errValue = env.Null();
  Napi::Array frames = Napi::Array::New(env);
  if (status < 0) {
    errValue = MakeError(env, uv_err_name(status), std::string("uv_poll(AF_PACKET) failed: ") + uv_strerror(status), -status).Value();
  } else {
    std::vector<uint8_t> frame;
    try {
      // Drain a bounded number per wakeup so one busy socket cannot starve the event loop.
      for (uint32_t i = 0; i < 256 && alcor::PacketRecv(poll->fd, frame, poll->includeOutgoing); i++) {
        frames.Set(i, ToBuffer(env, frame));
      }
    } catch (const OpError& e) {
      errValue = MakeError(env, e.code(), e.what(), e.err()).Value();
    }
    if (frames.Length() == 0 && errValue.IsNull()) return;
  }
  poll->callback.MakeCallback(env.Global(), {errValue, frames});
  if (env.IsExceptionPending()) {
    napi_fatal_exception(env, env.GetAndClearPendingException().Value());
  }
}

void StopPoll(int fd) {
  auto it = g_polls.find(fd);
  if (it == g_polls.end()) return;
  PollWatch* poll = it->second;
  g_polls.erase(it);
  uv_poll_stop(&poll->handle);
  uv_close(reinterpret_cast<uv_handle_t*>(&poll->handle),
           [](uv_handle_t* h) { delete static_cast<PollWatch*>(h->data); });
}

Napi::Value PacketOpen(const Napi::CallbackInfo& info) {
  return Guard(info, [&](Napi::Env env) -> Napi::Value {
    Napi::Object o = ObjectArg(info, 0, "packetOpen");
    std::string ifname = StringArg(o.Get("ifname"), "options.ifname");
    uint32_t protocol = o.Get("protocol").IsUndefined() ? 0x0003 : U32Arg(o.Get("protocol"), "options.protocol");
    if (protocol > 0xffff) BadArg("options.protocol must be an ethertype (0..0xffff)");
    alcor::PacketSocket s = alcor::PacketOpen(ifname, OptString(o, "netns"), static_cast<uint16_t>(protocol));
    Napi::Object r = Napi::Object::New(env);
    r.Set("fd", s.fd);
    r.Set("ifindex", s.ifindex);
    return r;
  });
}

Napi::Value PacketSend(const Napi::CallbackInfo& info) {
  return Guard(info, [&](Napi::Env env) -> Napi::Value {
    int fd = FdArg(info, 0, "packetSend");
    Bytes frame = BytesArg(info[1], "packetSend: frame");
    alcor::PacketSend(fd, frame.data, frame.len);
    return env.Undefined();
  });
}

Napi::Value PacketRecv(const Napi::CallbackInfo& info) {
  return Guard(info, [&](Napi::Env env) -> Napi::Value {
    int fd = FdArg(info, 0, "packetRecv");
    bool includeOutgoing = info.Length() > 1 && info[1].ToBoolean().Value();
    std::vector<uint8_t> frame;
    if (!alcor::PacketRecv(fd, frame, includeOutgoing)) return env.Null();
    return ToBuffer(env, frame);
  });
}

// packetPoll(fd, callback(err, frames[]), includeOutgoing?, ref?): frames arrive on the JS thread as they come in.
Napi::Value PacketPoll(const Napi::CallbackInfo& info) {
  return Guard(info, [&](Napi::Env env) -> Napi::Value {
    int fd = FdArg(info, 0, "packetPoll");
    if (info.Length() < 2 || !info[1].IsFunction()) BadArg("packetPoll: callback must be a function");
    if (g_polls.count(fd) != 0) BadArg("packetPoll: fd " + std::to_string(fd) + " is already being polled");
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) throw OpError("ENATIVE", "no libuv loop");
    auto poll = std::make_unique<PollWatch>();
    poll->fd = fd;
    poll->env = env;
    poll->includeOutgoing = info.Length() > 2 && info[2].ToBoolean().Value();
    poll->callback = Napi::Persistent(info[1].As<Napi::Function>());
    int rc = uv_poll_init(loop, &poll->handle, fd);
    if (rc < 0) throw OpError(uv_err_name(rc), std::string("uv_poll_init(fd ") + std::to_string(fd) + ") failed: " + uv_strerror(rc), -rc);
    poll->handle.data = poll.get();
    rc = uv_poll_start(&poll->handle, UV_READABLE, OnPacketReadable);
    if (rc < 0) {
      PollWatch* p = poll.release();
      uv_close(reinterpret_cast<uv_handle_t*>(&p->handle), [](uv_handle_t* h) { delete static_cast<PollWatch*>(h->data); });
      throw OpError(uv_err_name(rc), std::string("uv_poll_start failed: ") + uv_strerror(rc), -rc);
    }
    bool ref = info.Length() <= 3 || info[3].ToBoolean().Value();
    if (!ref) uv_unref(reinterpret_cast<uv_handle_t*>(&poll->handle));
    g_polls[fd] = poll.release();
    return env.Undefined();
  });
}

Napi::Value PacketPollStop(const Napi::CallbackInfo& info) {
  return Guard(info, [&](Napi::Env env) -> Napi::Value {
    StopPoll(FdArg(info, 0, "packetPollStop"));
    return env.Undefined();
  });
}

Napi::Value PacketClose(const Napi::CallbackInfo& info) {
  return Guard(info, [&](Napi::Env env) -> Napi::Value {
    int fd = FdArg(info, 0, "packetClose");
    StopPoll(fd);
    alcor::CloseFd(fd);
    return env.Undefined();
  });
}

// A file mapped copy-on-write (MAP_PRIVATE: a write changes only this process's copy) as an
// ArrayBuffer that is unmapped when collected. Reading a 200 MB goal-state log this way maps the
// page cache instead of copying it into fresh memory, which costs ~0.9 s on these VMs (first touch
// of every page, then the copy). No MAP_POPULATE: on a writable private mapping it would copy every page.
Napi::Value MapFile(const Napi::CallbackInfo& info) {
  return Guard(info, [&](Napi::Env env) -> Napi::Value {
    const std::string path = StringArg(info[0], "mapFile: path");
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) alcor::ThrowSys("open(" + path + ")", errno);
    struct stat st;
    if (fstat(fd, &st) != 0) {
      int err = errno;
      close(fd);
      alcor::ThrowSys("fstat(" + path + ")", err);
    }
    const size_t size = static_cast<size_t>(st.st_size);
    if (size == 0) {
      close(fd);
      return Napi::ArrayBuffer::New(env, 0);
    }
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd);
    if (p == MAP_FAILED) alcor::ThrowSys("mmap(" + path + ")", err);
    return Napi::ArrayBuffer::New(
        env, p, size, [](Napi::Env, void* data, size_t* len) {
          munmap(data, *len);
          delete len;
        },
        new size_t(size));
  });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, 3));
  struct Entry {
    const char* name;
    Napi::Value (*fn)(const Napi::CallbackInfo&);
  };
  const Entry entries[] = {
      {"inetChecksum", InetChecksum},
      {"noop", Noop},
      {"possibleCpus", PossibleCpus},
      {"mapCreate", MapCreate},
      {"mapInfo", MapInfo},
      {"objPin", ObjPin},
      {"objGet", ObjGet},
      {"mapOpenPinned", MapOpenPinned},
      {"mapLookup", MapLookup},
      {"mapUpdate", MapUpdate},
      {"mapDelete", MapDelete},
      {"mapNextKey", MapNextKey},
      {"mapUpdateBatch", MapUpdateBatch},
      {"mapUpdateBatchSync", MapUpdateBatchSync},
      {"mapDeleteBatch", MapDeleteBatch},
      {"mapDeleteBatchSync", MapDeleteBatchSync},
      {"mapDump", MapDump},
      {"mapDumpSync", MapDumpSync},
      {"closeFd", CloseFd},
      {"loadXdpProgram", LoadXdpProgram},
      {"elfMapNames", ElfMapNames},
      {"xdpAttach", XdpAttach},
      {"xdpDetach", XdpDetach},
      {"xdpQuery", XdpQuery},
      {"packetOpen", PacketOpen},
      {"packetSend", PacketSend},
      {"packetRecv", PacketRecv},
      {"packetPoll", PacketPoll},
      {"packetPollStop", PacketPollStop},
      {"packetClose", PacketClose},
      {"mapFile", MapFile},
  };
  for (const Entry& e : entries) exports.Set(e.name, Napi::Function::New(env, e.fn, e.name));
  return exports;
}

}  // namespace

NODE_API_MODULE(alcor_native, Init)
