// Alcor Agent native core. Grows into BPF map / XDP / AF_PACKET programming (see issue 6);
// for now it exposes the pieces the agent's hot paths already use and a version probe.
#include <napi.h>
#include <cstdint>

namespace {

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

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, 1));
  exports.Set("inetChecksum", Napi::Function::New(env, InetChecksum, "inetChecksum"));
  exports.Set("noop", Napi::Function::New(env, Noop, "noop"));
  return exports;
}

}  // namespace

NODE_API_MODULE(alcor_native, Init)
