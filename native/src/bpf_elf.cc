#include "bpf_elf.h"

#include <elf.h>
#include <linux/bpf.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>

#include "bpf_sys.h"
#include "sys_error.h"

#ifndef EM_BPF
#define EM_BPF 247
#endif

namespace alcor {

namespace {

constexpr uint32_t kRelBpf64_64 = 1;  // R_BPF_64_64: 64-bit immediate of an ld_imm64 instruction
constexpr uint8_t kLdImm64 = BPF_LD | BPF_IMM | BPF_DW;

struct ElfFile {
  std::string path;
  std::vector<uint8_t> bytes;
  const Elf64_Ehdr* ehdr = nullptr;
  std::vector<const Elf64_Shdr*> sections;
  const char* shstrtab = nullptr;
  size_t shstrtabSize = 0;

  [[noreturn]] void Bad(const std::string& why) const {
    ThrowInput("EBADELF", "BPF object " + path + ": " + why);
  }

  const uint8_t* Data(const Elf64_Shdr* sh) const {
    if (sh->sh_type == SHT_NOBITS) return nullptr;
    if (sh->sh_offset > bytes.size() || sh->sh_size > bytes.size() - sh->sh_offset) Bad("section outside the file");
    return bytes.data() + sh->sh_offset;
  }

  std::string SectionName(const Elf64_Shdr* sh) const {
    if (sh->sh_name >= shstrtabSize) Bad("bad section name offset");
    return std::string(shstrtab + sh->sh_name, strnlen(shstrtab + sh->sh_name, shstrtabSize - sh->sh_name));
  }
};

ElfFile ReadElf(const std::string& path) {
  ElfFile f;
  f.path = path;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    ThrowSys("open(" + path + ")", err == 0 ? ENOENT : err, "BPF object not found (run `npm run build:bpf`)");
  }
  f.bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (f.bytes.size() < sizeof(Elf64_Ehdr)) f.Bad("too small to be an ELF file");
  f.ehdr = reinterpret_cast<const Elf64_Ehdr*>(f.bytes.data());
  if (std::memcmp(f.ehdr->e_ident, ELFMAG, SELFMAG) != 0) f.Bad("not an ELF file");
  if (f.ehdr->e_ident[EI_CLASS] != ELFCLASS64) f.Bad("not ELF64");
  if (f.ehdr->e_ident[EI_DATA] != ELFDATA2LSB) f.Bad("not little-endian (compile with -target bpf on x86_64)");
  if (f.ehdr->e_machine != EM_BPF) f.Bad("machine is not EM_BPF (compile with clang -target bpf)");
  if (f.ehdr->e_type != ET_REL) f.Bad("not a relocatable object (.o)");
  if (f.ehdr->e_shentsize != sizeof(Elf64_Shdr)) f.Bad("unexpected section header size");
  size_t shoff = f.ehdr->e_shoff;
  size_t shnum = f.ehdr->e_shnum;
  if (shoff > f.bytes.size() || shnum * sizeof(Elf64_Shdr) > f.bytes.size() - shoff) f.Bad("section headers outside the file");
  for (size_t i = 0; i < shnum; i++) {
    f.sections.push_back(reinterpret_cast<const Elf64_Shdr*>(f.bytes.data() + shoff + i * sizeof(Elf64_Shdr)));
  }
  if (f.ehdr->e_shstrndx >= shnum) f.Bad("no section name table");
  const Elf64_Shdr* strSh = f.sections[f.ehdr->e_shstrndx];
  f.shstrtab = reinterpret_cast<const char*>(f.Data(strSh));
  f.shstrtabSize = strSh->sh_size;
  if (f.shstrtab == nullptr) f.Bad("section name table without data");
  return f;
}

size_t FindProgramSection(const ElfFile& f, const std::string& wanted) {
  std::vector<std::string> seen;
  for (size_t i = 0; i < f.sections.size(); i++) {
    const Elf64_Shdr* sh = f.sections[i];
    if (sh->sh_type != SHT_PROGBITS || (sh->sh_flags & SHF_EXECINSTR) == 0 || sh->sh_size == 0) continue;
    std::string name = f.SectionName(sh);
    seen.push_back(name);
    if (wanted.empty() ? name.rfind("xdp", 0) == 0 : name == wanted) return i;
  }
  std::string list;
  for (const auto& s : seen) list += (list.empty() ? "" : ", ") + s;
  f.Bad("no program section " + (wanted.empty() ? std::string("starting with 'xdp'") : "'" + wanted + "'") +
        " (executable sections: " + (list.empty() ? "none" : list) + ")");
}

struct Symtab {
  const Elf64_Sym* syms = nullptr;
  size_t count = 0;
  const char* strs = nullptr;
  size_t strsSize = 0;

  std::string Name(const Elf64_Sym& s) const {
    if (s.st_name >= strsSize) return "";
    return std::string(strs + s.st_name, strnlen(strs + s.st_name, strsSize - s.st_name));
  }
};

Symtab ReadSymtab(const ElfFile& f) {
  for (const Elf64_Shdr* sh : f.sections) {
    if (sh->sh_type != SHT_SYMTAB) continue;
    if (sh->sh_link >= f.sections.size()) f.Bad("symbol table has a bad string table link");
    Symtab t;
    t.syms = reinterpret_cast<const Elf64_Sym*>(f.Data(sh));
    t.count = sh->sh_size / sizeof(Elf64_Sym);
    const Elf64_Shdr* strSh = f.sections[sh->sh_link];
    t.strs = reinterpret_cast<const char*>(f.Data(strSh));
    t.strsSize = strSh->sh_size;
    if (t.syms == nullptr || t.strs == nullptr) f.Bad("symbol table without data");
    return t;
  }
  f.Bad("no symbol table (was the object stripped?)");
}

struct MapReloc {
  size_t insnIndex;
  std::string mapName;
};

struct Program {
  std::vector<bpf_insn> insns;
  std::vector<MapReloc> relocs;
  std::string section;
  std::string funcName;
  std::string license;
};

Program ExtractProgram(const ElfFile& f, const std::string& wanted) {
  Program p;
  size_t progIdx = FindProgramSection(f, wanted);
  const Elf64_Shdr* progSh = f.sections[progIdx];
  p.section = f.SectionName(progSh);
  if (progSh->sh_size % sizeof(bpf_insn) != 0) f.Bad("program section size is not a multiple of 8");
  p.insns.resize(progSh->sh_size / sizeof(bpf_insn));
  std::memcpy(p.insns.data(), f.Data(progSh), progSh->sh_size);

  Symtab symtab = ReadSymtab(f);
  for (size_t i = 0; i < symtab.count; i++) {
    const Elf64_Sym& s = symtab.syms[i];
    if (s.st_shndx == progIdx && ELF64_ST_TYPE(s.st_info) == STT_FUNC) {
      if (s.st_value != 0) {
        f.Bad("section " + p.section + " holds more than one function; mark helpers static __always_inline");
      }
      p.funcName = symtab.Name(s);
    }
  }

  for (size_t i = 0; i < f.sections.size(); i++) {
    const Elf64_Shdr* sh = f.sections[i];
    std::string name = f.SectionName(sh);
    if (name == "license") {
      const char* lic = reinterpret_cast<const char*>(f.Data(sh));
      if (lic != nullptr) p.license = std::string(lic, strnlen(lic, sh->sh_size));
    }
    if (sh->sh_type == SHT_RELA && sh->sh_info == progIdx) f.Bad("RELA relocations are not expected for BPF");
    if (sh->sh_type != SHT_REL || sh->sh_info != progIdx) continue;
    const auto* rels = reinterpret_cast<const Elf64_Rel*>(f.Data(sh));
    if (rels == nullptr) f.Bad("relocation section without data");
    size_t n = sh->sh_size / sizeof(Elf64_Rel);
    for (size_t r = 0; r < n; r++) {
      uint32_t symIdx = ELF64_R_SYM(rels[r].r_info);
      uint32_t type = ELF64_R_TYPE(rels[r].r_info);
      if (symIdx >= symtab.count) f.Bad("relocation refers to a missing symbol");
      const Elf64_Sym& sym = symtab.syms[symIdx];
      std::string symName = symtab.Name(sym);
      std::string targetSection =
          sym.st_shndx < f.sections.size() ? f.SectionName(f.sections[sym.st_shndx]) : std::string("<undefined>");
      if (type != kRelBpf64_64 || (targetSection != ".maps" && targetSection != "maps")) {
        f.Bad("unsupported relocation (type " + std::to_string(type) + ") against '" + symName + "' in section " +
              targetSection + ": this loader handles map references only (no global data, no bpf-to-bpf calls)");
      }
      if (rels[r].r_offset % sizeof(bpf_insn) != 0 || rels[r].r_offset / sizeof(bpf_insn) + 1 >= p.insns.size()) {
        f.Bad("relocation offset outside the program");
      }
      size_t insnIndex = rels[r].r_offset / sizeof(bpf_insn);
      if (p.insns[insnIndex].code != kLdImm64) f.Bad("map relocation does not point at an ld_imm64 instruction");
      p.relocs.push_back({insnIndex, symName});
    }
  }
  return p;
}

uint32_t ProgId(int fd) {
  bpf_prog_info info{};
  bpf_attr attr{};
  attr.info.bpf_fd = static_cast<uint32_t>(fd);
  attr.info.info_len = sizeof info;
  attr.info.info = PtrToU64(&info);
  if (SysBpf(BPF_OBJ_GET_INFO_BY_FD, &attr) < 0) return 0;
  return info.id;
}

}  // namespace

std::vector<std::string> ElfMapNames(const std::string& path, const std::string& section) {
  ElfFile f = ReadElf(path);
  Program p = ExtractProgram(f, section);
  std::set<std::string> names;
  for (const auto& r : p.relocs) names.insert(r.mapName);
  return {names.begin(), names.end()};
}

LoadedProgram LoadXdpFromElf(const ElfProgramSpec& spec) {
  ElfFile f = ReadElf(spec.path);
  Program p = ExtractProgram(f, spec.section);
  LoadedProgram out;
  std::set<std::string> used;
  for (const MapReloc& r : p.relocs) {
    auto it = std::find_if(spec.mapFds.begin(), spec.mapFds.end(),
                           [&](const std::pair<std::string, int>& m) { return m.first == r.mapName; });
    if (it == spec.mapFds.end()) {
      ThrowInput("EMISSINGMAP", "BPF object " + spec.path + " section " + p.section + " uses map '" + r.mapName +
                                    "' but no fd was given for it");
    }
    bpf_insn& insn = p.insns[r.insnIndex];
    insn.src_reg = BPF_PSEUDO_MAP_FD;
    insn.imm = it->second;
    used.insert(r.mapName);
  }
  out.mapsUsed.assign(used.begin(), used.end());

  std::string name = spec.progName.empty() ? p.funcName : spec.progName;
  name = name.substr(0, BPF_OBJ_NAME_LEN - 1);
  std::string license = p.license.empty() ? "GPL" : p.license;

  auto load = [&](uint32_t logLevel, std::vector<char>* log) {
    bpf_attr attr{};
    attr.prog_type = BPF_PROG_TYPE_XDP;
    attr.insn_cnt = static_cast<uint32_t>(p.insns.size());
    attr.insns = PtrToU64(p.insns.data());
    attr.license = PtrToU64(license.c_str());
    std::memcpy(attr.prog_name, name.data(), name.size());
    if (log != nullptr) {
      attr.log_level = logLevel;
      attr.log_buf = PtrToU64(log->data());
      attr.log_size = static_cast<uint32_t>(log->size());
    }
    return static_cast<int>(SysBpf(BPF_PROG_LOAD, &attr));
  };

  int fd = load(0, nullptr);
  if (fd < 0) {
    int err = errno;
    // Load again with the verifier log on: its tail says which instruction was refused and why.
    std::vector<char> log(1 << 20, '\0');
    int fd2 = load(1, &log);
    if (fd2 >= 0) {
      fd = fd2;
    } else {
      std::string text(log.data(), strnlen(log.data(), log.size()));
      if (text.size() > 3000) text = "..." + text.substr(text.size() - 3000);
      ThrowSys("bpf(BPF_PROG_LOAD)", err, "program " + p.section + " from " + spec.path +
                                              (text.empty() ? std::string() : "; verifier log:\n" + text));
    }
  }
  out.fd = fd;
  out.section = p.section;
  out.name = name;
  out.insnCount = static_cast<uint32_t>(p.insns.size());
  out.id = ProgId(fd);
  return out;
}

}  // namespace alcor
