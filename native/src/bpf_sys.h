// The bpf(2) syscall, called directly: glibc has no wrapper and we do not want a libbpf dependency.
#pragma once
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

namespace alcor {

inline long SysBpf(int cmd, bpf_attr* attr) { return syscall(__NR_bpf, cmd, attr, sizeof(*attr)); }

inline uint64_t PtrToU64(const void* p) { return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)); }

}  // namespace alcor
