// Minimal loader for our own XDP programs: reads one program section out of a clang `-target bpf` ELF object, points
// its map references at fds the caller supplies (by map symbol name), and loads it with BPF_PROG_LOAD.
// It deliberately supports only what our programs use: ld_imm64 map relocations. Global data (.data/.rodata/.bss) and
// bpf-to-bpf calls are rejected with a clear error instead of being half-handled.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace alcor {

struct ElfProgramSpec {
  std::string path;
  std::string section;  // empty: the first executable section whose name starts with "xdp"
  std::string progName;  // empty: the section's function symbol name
  std::vector<std::pair<std::string, int>> mapFds;
};

struct LoadedProgram {
  int fd = -1;
  std::string section;
  std::string name;
  uint32_t insnCount = 0;
  uint32_t id = 0;
  std::vector<std::string> mapsUsed;
};

LoadedProgram LoadXdpFromElf(const ElfProgramSpec& spec);

// Names of the maps an object file references from the chosen program section (to tell callers what to supply).
std::vector<std::string> ElfMapNames(const std::string& path, const std::string& section);

}  // namespace alcor
