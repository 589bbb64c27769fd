/* The little of libbpf's bpf_helpers.h our XDP programs need, so `npm run build:bpf` needs only clang and the kernel
 * UAPI headers (linux-libc-dev), not libbpf-dev. Map definitions use the BTF ".maps" layout, so the objects also load
 * with bpftool/libbpf; our own loader (native/src/bpf_elf.cc) only reads the map symbol names. */
#ifndef ALCOR_BPF_MIN_H
#define ALCOR_BPF_MIN_H

#include <linux/types.h>
#include <linux/bpf.h>

#define SEC(name) __attribute__((section(name), used))
#undef __always_inline
#define __always_inline inline __attribute__((always_inline))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)BPF_FUNC_map_lookup_elem;

#define bpf_htons(x) __builtin_bswap16(x)
#define bpf_htonl(x) __builtin_bswap32(x)

#endif
