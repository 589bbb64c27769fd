// Errors raised by the native layer. Every failing syscall becomes an OpError that names the call and the errno, so
// the JavaScript side can show `bpf(BPF_MAP_UPDATE_ELEM) failed: E2BIG (Argument list too long)` and set `code`.
#pragma once
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace alcor {

// Linux returns ENOTSUPP (524) from some bpf commands; it is kernel-internal, so libc has no name for it.
constexpr int kKernelEnotsupp = 524;

inline std::string ErrnoName(int err) {
  if (err == kKernelEnotsupp) return "ENOTSUPP";
  const char* name = strerrorname_np(err);
  return name != nullptr ? std::string(name) : "E" + std::to_string(err);
}

inline std::string ErrnoText(int err) {
  if (err == kKernelEnotsupp) return "Operation not supported";
  return std::strerror(err);
}

class OpError : public std::runtime_error {
 public:
  // code: errno name ("E2BIG") for syscall failures, or an Alcor code ("EBADKEYSIZE") for rejected input.
  OpError(std::string code, const std::string& message, int err = 0)
      : std::runtime_error(message), code_(std::move(code)), errno_(err) {}

  const std::string& code() const { return code_; }
  int err() const { return errno_; }

 private:
  std::string code_;
  int errno_;
};

// `what` names the call, e.g. "bpf(BPF_MAP_UPDATE_ELEM)"; detail is appended after the errno text when useful.
[[noreturn]] inline void ThrowSys(const std::string& what, int err, const std::string& detail = "") {
  std::string msg = what + " failed: " + ErrnoName(err) + " (" + ErrnoText(err) + ")";
  if (!detail.empty()) msg += ": " + detail;
  throw OpError(ErrnoName(err), msg, err);
}

[[noreturn]] inline void ThrowInput(const std::string& code, const std::string& message) {
  throw OpError(code, message, 0);
}

}  // namespace alcor
