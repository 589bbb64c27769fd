#include "bpf_map.h"

#include <fcntl.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <mutex>
#include <unordered_map>

#include "bpf_sys.h"
#include "sys_error.h"

namespace alcor {

namespace {

std::mutex g_cacheMutex;
std::unordered_map<int, MapInfo> g_mapInfo;

bool IsPerCpuType(uint32_t type) {
  return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
         type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

// /proc/self/fd/N of a map reads "anon_inode:bpf-map"; BPF_OBJ_GET_INFO_BY_FD alone would also accept prog fds.
bool FdIsBpfMap(int fd) {
  char link[64];
  char target[128];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, target, sizeof target - 1);
  if (n < 0) return false;
  target[n] = '\0';
  return std::strcmp(target, "anon_inode:bpf-map") == 0;
}

MapInfo QueryMapInfo(int fd) {
  if (fd < 0 || !FdIsBpfMap(fd)) {
    ThrowInput("EBADMAPFD", "fd " + std::to_string(fd) + " is not an open BPF map");
  }
  bpf_map_info info{};
  bpf_attr attr{};
  attr.info.bpf_fd = static_cast<uint32_t>(fd);
  attr.info.info_len = sizeof info;
  attr.info.info = PtrToU64(&info);
  if (SysBpf(BPF_OBJ_GET_INFO_BY_FD, &attr) < 0) ThrowSys("bpf(BPF_OBJ_GET_INFO_BY_FD)", errno);
  MapInfo out;
  out.type = info.type;
  out.id = info.id;
  out.keySize = info.key_size;
  out.valueSize = info.value_size;
  out.maxEntries = info.max_entries;
  out.flags = info.map_flags;
  out.name = std::string(info.name, strnlen(info.name, sizeof info.name));
  out.perCpu = IsPerCpuType(info.type);
  out.valueBytes = out.perCpu ? ((info.value_size + 7) / 8 * 8) * static_cast<uint32_t>(PossibleCpus()) : info.value_size;
  return out;
}

MapInfo RefreshMapInfo(int fd) {
  MapInfo info = QueryMapInfo(fd);
  std::lock_guard<std::mutex> lock(g_cacheMutex);
  g_mapInfo[fd] = info;
  return info;
}

void CheckKey(const MapInfo& info, size_t keyLen, const char* what) {
  if (keyLen != info.keySize) {
    ThrowInput("EBADKEYSIZE", std::string(what) + ": key is " + std::to_string(keyLen) + " bytes but map '" +
                                  info.name + "' has key_size " + std::to_string(info.keySize));
  }
}

void CheckValue(const MapInfo& info, size_t valueLen, const char* what) {
  if (valueLen != info.valueBytes) {
    std::string expect = std::to_string(info.valueBytes);
    if (info.perCpu) {
      expect += " (per-CPU map: round_up(value_size " + std::to_string(info.valueSize) + ", 8) x " +
                std::to_string(PossibleCpus()) + " possible CPUs)";
    }
    ThrowInput("EBADVALUESIZE", std::string(what) + ": value is " + std::to_string(valueLen) + " bytes but map '" +
                                    info.name + "' needs " + expect);
  }
}

// The kernel answers EINVAL or ENOTSUPP when a map type has no batch implementation.
bool BatchUnsupported(int err) { return err == EINVAL || err == EOPNOTSUPP || err == kKernelEnotsupp; }

}  // namespace

int PossibleCpus() {
  static const int cpus = [] {
    // Format like "0-1" or "0,2-5": count every listed CPU.
    std::ifstream in("/sys/devices/system/cpu/possible");
    std::string s;
    std::getline(in, s);
    int total = 0;
    size_t pos = 0;
    while (pos < s.size()) {
      size_t end = s.find(',', pos);
      if (end == std::string::npos) end = s.size();
      std::string part = s.substr(pos, end - pos);
      size_t dash = part.find('-');
      try {
        if (dash == std::string::npos) {
          total += 1;
        } else {
          total += std::stoi(part.substr(dash + 1)) - std::stoi(part.substr(0, dash)) + 1;
        }
      } catch (...) {
      }
      pos = end + 1;
    }
    if (total <= 0) total = static_cast<int>(sysconf(_SC_NPROCESSORS_CONF));
    return total > 0 ? total : 1;
  }();
  return cpus;
}

MapInfo GetMapInfo(int fd) {
  {
    std::lock_guard<std::mutex> lock(g_cacheMutex);
    auto it = g_mapInfo.find(fd);
    if (it != g_mapInfo.end()) return it->second;
  }
  return RefreshMapInfo(fd);
}

void ForgetFd(int fd) {
  std::lock_guard<std::mutex> lock(g_cacheMutex);
  g_mapInfo.erase(fd);
}

void CloseFd(int fd) {
  if (fd < 0) ThrowInput("EBADF", "close: fd must be a non-negative integer");
  ForgetFd(fd);
  if (close(fd) < 0) ThrowSys("close(" + std::to_string(fd) + ")", errno);
}

int MapCreate(uint32_t type, uint32_t keySize, uint32_t valueSize, uint32_t maxEntries, uint32_t flags,
              const std::string& name) {
  if (name.size() >= BPF_OBJ_NAME_LEN) {
    ThrowInput("EBADNAME", "map name '" + name + "' is longer than " + std::to_string(BPF_OBJ_NAME_LEN - 1) + " chars");
  }
  for (char c : name) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.')) {
      ThrowInput("EBADNAME", "map name '" + name + "' may only contain letters, digits, '_' and '.'");
    }
  }
  // The LPM trie refuses preallocation, so ask for the only mode it supports.
  if (type == BPF_MAP_TYPE_LPM_TRIE) flags |= BPF_F_NO_PREALLOC;
  bpf_attr attr{};
  attr.map_type = type;
  attr.key_size = keySize;
  attr.value_size = valueSize;
  attr.max_entries = maxEntries;
  attr.map_flags = flags;
  std::memcpy(attr.map_name, name.data(), name.size());
  int fd = static_cast<int>(SysBpf(BPF_MAP_CREATE, &attr));
  if (fd < 0) {
    int err = errno;
    ThrowSys("bpf(BPF_MAP_CREATE)", err,
             "type " + std::to_string(type) + " key " + std::to_string(keySize) + " value " +
                 std::to_string(valueSize) + " entries " + std::to_string(maxEntries) + " name '" + name + "'");
  }
  RefreshMapInfo(fd);
  return fd;
}

void ObjPin(int fd, const std::string& path) {
  bpf_attr attr{};
  attr.pathname = PtrToU64(path.c_str());
  attr.bpf_fd = static_cast<uint32_t>(fd);
  if (SysBpf(BPF_OBJ_PIN, &attr) < 0) {
    int err = errno;
    ThrowSys("bpf(BPF_OBJ_PIN)", err,
             path + (err == EPERM || err == EACCES ? " (is bpffs mounted at /sys/fs/bpf?)" : ""));
  }
}

int ObjGet(const std::string& path) {
  bpf_attr attr{};
  attr.pathname = PtrToU64(path.c_str());
  int fd = static_cast<int>(SysBpf(BPF_OBJ_GET, &attr));
  if (fd < 0) ThrowSys("bpf(BPF_OBJ_GET)", errno, path);
  return fd;
}

int MapOpenPinned(const std::string& path) {
  int fd = ObjGet(path);
  try {
    RefreshMapInfo(fd);
  } catch (...) {
    close(fd);
    ThrowInput("EBADMAPFD", "pinned object " + path + " is not a BPF map");
  }
  return fd;
}

bool MapLookup(int fd, const uint8_t* key, size_t keyLen, std::vector<uint8_t>& value) {
  MapInfo info = GetMapInfo(fd);
  CheckKey(info, keyLen, "map lookup");
  value.resize(info.valueBytes);
  bpf_attr attr{};
  attr.map_fd = static_cast<uint32_t>(fd);
  attr.key = PtrToU64(key);
  attr.value = PtrToU64(value.data());
  if (SysBpf(BPF_MAP_LOOKUP_ELEM, &attr) < 0) {
    if (errno == ENOENT) return false;
    ThrowSys("bpf(BPF_MAP_LOOKUP_ELEM)", errno);
  }
  return true;
}

void MapUpdate(int fd, const uint8_t* key, size_t keyLen, const uint8_t* value, size_t valueLen, uint64_t flags) {
  MapInfo info = GetMapInfo(fd);
  CheckKey(info, keyLen, "map update");
  CheckValue(info, valueLen, "map update");
  bpf_attr attr{};
  attr.map_fd = static_cast<uint32_t>(fd);
  attr.key = PtrToU64(key);
  attr.value = PtrToU64(value);
  attr.flags = flags;
  if (SysBpf(BPF_MAP_UPDATE_ELEM, &attr) < 0) ThrowSys("bpf(BPF_MAP_UPDATE_ELEM)", errno);
}

bool MapDelete(int fd, const uint8_t* key, size_t keyLen) {
  MapInfo info = GetMapInfo(fd);
  CheckKey(info, keyLen, "map delete");
  bpf_attr attr{};
  attr.map_fd = static_cast<uint32_t>(fd);
  attr.key = PtrToU64(key);
  if (SysBpf(BPF_MAP_DELETE_ELEM, &attr) < 0) {
    if (errno == ENOENT) return false;
    ThrowSys("bpf(BPF_MAP_DELETE_ELEM)", errno);
  }
  return true;
}

bool MapNextKey(int fd, const uint8_t* key, size_t keyLen, std::vector<uint8_t>& next) {
  MapInfo info = GetMapInfo(fd);
  if (key != nullptr) CheckKey(info, keyLen, "map next key");
  next.resize(info.keySize);
  bpf_attr attr{};
  attr.map_fd = static_cast<uint32_t>(fd);
  attr.key = PtrToU64(key);
  attr.next_key = PtrToU64(next.data());
  if (SysBpf(BPF_MAP_GET_NEXT_KEY, &attr) < 0) {
    if (errno == ENOENT) return false;
    ThrowSys("bpf(BPF_MAP_GET_NEXT_KEY)", errno);
  }
  return true;
}

BatchResult MapUpdateBatch(int fd, const uint8_t* keys, size_t keysLen, const uint8_t* values, size_t valuesLen,
                           uint64_t flags) {
  MapInfo info = GetMapInfo(fd);
  if (info.keySize == 0 || keysLen % info.keySize != 0) {
    ThrowInput("EBADKEYSIZE", "batch update: keys buffer is " + std::to_string(keysLen) +
                                  " bytes, not a multiple of map '" + info.name + "' key_size " +
                                  std::to_string(info.keySize));
  }
  size_t n = keysLen / info.keySize;
  if (valuesLen != n * info.valueBytes) {
    ThrowInput("EBADVALUESIZE", "batch update: " + std::to_string(n) + " keys need " +
                                    std::to_string(n * info.valueBytes) + " value bytes (" +
                                    std::to_string(info.valueBytes) + " each) but got " + std::to_string(valuesLen));
  }
  if (n > UINT32_MAX) ThrowInput("E2BIG", "batch update: too many entries");
  BatchResult result;
  size_t done = 0;
  // BPF_MAP_UPDATE_BATCH only accepts BPF_ANY semantics (elem_flags may hold BPF_F_LOCK only), so NOEXIST/EXIST loop.
  bool tryBatch = flags == BPF_ANY;
  while (tryBatch && done < n) {
    bpf_attr attr{};
    attr.batch.map_fd = static_cast<uint32_t>(fd);
    attr.batch.keys = PtrToU64(keys + done * info.keySize);
    attr.batch.values = PtrToU64(values + done * info.valueBytes);
    attr.batch.count = static_cast<uint32_t>(n - done);
    attr.batch.elem_flags = 0;
    long rc = SysBpf(BPF_MAP_UPDATE_BATCH, &attr);
    int err = errno;
    // A map type without batch support fails before touching anything (and without writing count back): loop over
    // the whole input instead. Re-writing an entry with BPF_ANY is harmless, so restarting from `done` is safe.
    if (rc < 0 && BatchUnsupported(err) && !result.usedBatch) break;
    done += attr.batch.count;
    if (rc == 0) {
      result.usedBatch = true;
      continue;
    }
    ThrowSys("bpf(BPF_MAP_UPDATE_BATCH)", err,
             "at entry " + std::to_string(done) + " of " + std::to_string(n) + " (map '" + info.name + "')");
  }
  for (; done < n; done++) {
    bpf_attr attr{};
    attr.map_fd = static_cast<uint32_t>(fd);
    attr.key = PtrToU64(keys + done * info.keySize);
    attr.value = PtrToU64(values + done * info.valueBytes);
    attr.flags = flags;
    if (SysBpf(BPF_MAP_UPDATE_ELEM, &attr) < 0) {
      ThrowSys("bpf(BPF_MAP_UPDATE_ELEM)", errno,
               "at entry " + std::to_string(done) + " of " + std::to_string(n) + " (map '" + info.name + "')");
    }
  }
  result.count = static_cast<uint32_t>(n);
  return result;
}

BatchResult MapDeleteBatch(int fd, const uint8_t* keys, size_t keysLen) {
  MapInfo info = GetMapInfo(fd);
  if (info.keySize == 0 || keysLen % info.keySize != 0) {
    ThrowInput("EBADKEYSIZE", "batch delete: keys buffer is " + std::to_string(keysLen) +
                                  " bytes, not a multiple of map '" + info.name + "' key_size " +
                                  std::to_string(info.keySize));
  }
  size_t n = keysLen / info.keySize;
  if (n > UINT32_MAX) ThrowInput("E2BIG", "batch delete: too many entries");
  BatchResult result;
  size_t pos = 0;
  bool tryBatch = true;
  while (tryBatch && pos < n) {
    bpf_attr attr{};
    attr.batch.map_fd = static_cast<uint32_t>(fd);
    attr.batch.keys = PtrToU64(keys + pos * info.keySize);
    attr.batch.count = static_cast<uint32_t>(n - pos);
    long rc = SysBpf(BPF_MAP_DELETE_BATCH, &attr);
    int err = errno;
    if (rc < 0 && BatchUnsupported(err) && !result.usedBatch) {
      tryBatch = false;  // no batch support for this map type: loop below (absent keys are skipped there too)
      break;
    }
    pos += attr.batch.count;
    result.count += attr.batch.count;
    if (rc == 0) {
      result.usedBatch = true;
      continue;
    }
    if (err == ENOENT) {
      // The kernel stops at the first absent key; skip it and carry on with the rest.
      result.usedBatch = true;
      pos += 1;
      continue;
    }
    ThrowSys("bpf(BPF_MAP_DELETE_BATCH)", err,
             "at entry " + std::to_string(pos) + " of " + std::to_string(n) + " (map '" + info.name + "')");
  }
  for (; pos < n; pos++) {
    bpf_attr attr{};
    attr.map_fd = static_cast<uint32_t>(fd);
    attr.key = PtrToU64(keys + pos * info.keySize);
    if (SysBpf(BPF_MAP_DELETE_ELEM, &attr) < 0) {
      if (errno == ENOENT) continue;
      ThrowSys("bpf(BPF_MAP_DELETE_ELEM)", errno,
               "at entry " + std::to_string(pos) + " of " + std::to_string(n) + " (map '" + info.name + "')");
    }
    result.count++;
  }
  return result;
}

MapDump MapDumpAll(int fd) {
  MapInfo info = GetMapInfo(fd);
  MapDump dump;
  // Batch tokens are a bucket index for hash maps and a key for arrays: give them room for either.
  std::vector<uint8_t> inBatch(std::max<size_t>(info.keySize, 8));
  std::vector<uint8_t> outBatch(inBatch.size());
  uint32_t chunk = std::min<uint32_t>(std::max<uint32_t>(info.maxEntries, 1), 4096);
  bool first = true;
  bool batchWorks = true;
  while (true) {
    size_t base = dump.count;
    dump.keys.resize((base + chunk) * info.keySize);
    dump.values.resize((base + chunk) * info.valueBytes);
    bpf_attr attr{};
    attr.batch.map_fd = static_cast<uint32_t>(fd);
    attr.batch.in_batch = first ? 0 : PtrToU64(inBatch.data());
    attr.batch.out_batch = PtrToU64(outBatch.data());
    attr.batch.keys = PtrToU64(dump.keys.data() + base * info.keySize);
    attr.batch.values = PtrToU64(dump.values.data() + base * info.valueBytes);
    attr.batch.count = chunk;
    long rc = SysBpf(BPF_MAP_LOOKUP_BATCH, &attr);
    int err = errno;
    if (rc < 0 && err == ENOSPC && attr.batch.count == 0) {
      // A hash bucket holds more entries than fit in one call; retry with more room.
      chunk *= 2;
      continue;
    }
    if (rc < 0 && err != ENOENT) {
      if (first && BatchUnsupported(err)) {
        batchWorks = false;
        break;
      }
      ThrowSys("bpf(BPF_MAP_LOOKUP_BATCH)", err, "map '" + info.name + "'");
    }
    dump.count += attr.batch.count;
    if (rc < 0) break;  // ENOENT: no more entries
    first = false;
    inBatch.swap(outBatch);
  }
  if (!batchWorks) {
    dump.count = 0;
    dump.keys.clear();
    dump.values.clear();
    std::vector<uint8_t> key;
    std::vector<uint8_t> next;
    std::vector<uint8_t> value;
    bool have = MapNextKey(fd, nullptr, 0, next);
    while (have) {
      key = next;
      // The entry can vanish between the two calls; skip it then.
      if (MapLookup(fd, key.data(), key.size(), value)) {
        dump.keys.insert(dump.keys.end(), key.begin(), key.end());
        dump.values.insert(dump.values.end(), value.begin(), value.end());
        dump.count++;
      }
      have = MapNextKey(fd, key.data(), key.size(), next);
    }
  }
  dump.keys.resize(static_cast<size_t>(dump.count) * info.keySize);
  dump.values.resize(static_cast<size_t>(dump.count) * info.valueBytes);
  return dump;
}

}  // namespace alcor
