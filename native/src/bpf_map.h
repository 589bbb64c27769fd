// BPF maps through the raw bpf(2) syscall (no libbpf needed at build or run time).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace alcor {

struct MapInfo {
  uint32_t type = 0;
  uint32_t id = 0;
  uint32_t keySize = 0;
  uint32_t valueSize = 0;
  uint32_t maxEntries = 0;
  uint32_t flags = 0;
  std::string name;
  // Bytes a user-space value buffer needs: valueSize, or round_up(valueSize, 8) * possible CPUs for per-CPU maps.
  uint32_t valueBytes = 0;
  bool perCpu = false;
};

int PossibleCpus();

// Returns the map's info (cached per fd; refreshed by every call here that produces an fd). Throws EBADMAPFD if the
// fd is not a BPF map.
MapInfo GetMapInfo(int fd);
void ForgetFd(int fd);
void CloseFd(int fd);

int MapCreate(uint32_t type, uint32_t keySize, uint32_t valueSize, uint32_t maxEntries, uint32_t flags,
              const std::string& name);
void ObjPin(int fd, const std::string& path);
int ObjGet(const std::string& path);
int MapOpenPinned(const std::string& path);

bool MapLookup(int fd, const uint8_t* key, size_t keyLen, std::vector<uint8_t>& value);
void MapUpdate(int fd, const uint8_t* key, size_t keyLen, const uint8_t* value, size_t valueLen, uint64_t flags);
bool MapDelete(int fd, const uint8_t* key, size_t keyLen);
// key == nullptr asks for the first key. False when there is no next key.
bool MapNextKey(int fd, const uint8_t* key, size_t keyLen, std::vector<uint8_t>& next);

struct BatchResult {
  uint32_t count = 0;    // entries written or deleted
  bool usedBatch = false;  // false when the kernel lacked batch support for this map type and we looped
};
BatchResult MapUpdateBatch(int fd, const uint8_t* keys, size_t keysLen, const uint8_t* values, size_t valuesLen,
                           uint64_t flags);
// Keys that are not in the map are skipped (deleting an absent key is not an error for reconciliation).
BatchResult MapDeleteBatch(int fd, const uint8_t* keys, size_t keysLen);

struct MapDump {
  std::vector<uint8_t> keys;
  std::vector<uint8_t> values;
  uint32_t count = 0;
};
MapDump MapDumpAll(int fd);

}  // namespace alcor
