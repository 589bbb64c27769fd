// The control process's malloc backs its heap with transparent huge pages (glibc >= 2.35, THP "madvise" or
// "always"): a push of 100k resources touches ~80 MB of fresh malloc memory (the received message, gRPC's
// framed copies of 1,000 host messages, the log record's buffers), and on the VMs this runs on a first touch
// of a 4 KiB page costs 30-40 us. With 2 MiB pages it was ~20k fewer page faults and a fifth less CPU per push
// (docs/benchmarks.md). Set before the process starts: bin/alcor-control does the same for the product's
// launcher, ReplicaProcess for tests and benchmarks. ALCOR_CONTROL_HUGE_PAGES=0 leaves malloc as it was.

const TUNABLE = 'glibc.malloc.hugetlb';

/** `env` with glibc's malloc told to use transparent huge pages, unless the caller set that tunable or opted out. */
export function withHugePageMalloc(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (env.ALCOR_CONTROL_HUGE_PAGES === '0') return env;
  const tunables = env.GLIBC_TUNABLES ?? '';
  if (tunables.split(':').some((t) => t.startsWith(`${TUNABLE}=`))) return env;
  return { ...env, GLIBC_TUNABLES: tunables === '' ? `${TUNABLE}=1` : `${tunables}:${TUNABLE}=1` };
}
