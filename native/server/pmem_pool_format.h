// The on-disk format of a pool file (layout: pmem_pool.h): its constants and checksums, shared
// by the pool file's code (pmem_pool.cc), its records (pmem_pool_records.cc) and their
// recovery (pmem_pool_recovery.cc).
#pragma once

#include <cstddef>
#include <cstdint>

#include "server/pmem_pool.h"

namespace ioc {
namespace server {
namespace pool_format {

constexpr char POOL_MAGIC[8] = {'I', 'O', 'C', 'P', 'O', 'O', 'L', '1'};
constexpr uint32_t POOL_VERSION = 2;  // 1: one record per slot
constexpr uint32_t RECORD_MAGIC = 0x52434f49;  // "IOCR"
constexpr uint32_t RECORD_DIRTY = 1;
constexpr uint32_t RECORD_TOMBSTONE = 2;
constexpr uint64_t TOMBSTONES_OFFSET = 1024;
static_assert(TOMBSTONES_OFFSET + PmemPool::TOMBSTONES * sizeof(PoolRecord) <= 4096, "tombstones fit before the records");
static_assert(sizeof(PoolHeader) <= TOMBSTONES_OFFSET, "the header fits before the tombstones");
constexpr uint64_t RECORDS_OFFSET = 4096;
constexpr uint64_t DATA_ALIGN = 2u << 20;

// FNV-1a 64: a torn or flipped record fails it with overwhelming probability.
inline uint64_t fnv1a(const void *data, size_t len, uint64_t seed) {
  uint64_t h = 14695981039346656037ull ^ seed;
  const unsigned char *p = static_cast<const unsigned char *>(data);
  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

inline uint64_t headerChecksum(const PoolHeader &h) { return fnv1a(&h, offsetof(PoolHeader, checksum), 0); }
// Seeded with the record's place (slot and copy): a record moved elsewhere fails.
inline uint64_t recordChecksum(const PoolRecord &r, uint32_t slot, unsigned copy) {
  return fnv1a(&r, offsetof(PoolRecord, checksum), (uint64_t)slot * 2 + copy);
}
inline uint64_t tombstoneChecksum(const PoolRecord &r, size_t slot) {
  return fnv1a(&r, offsetof(PoolRecord, checksum), (1ull << 63) | slot);  // never a record's seed
}

inline bool allZero(const void *p, size_t len) {
  const unsigned char *c = static_cast<const unsigned char *>(p);
  for (size_t i = 0; i < len; i++)
    if (c[i]) return false;
  return true;
}

// Where the slots start: after two records per slot, 2 MiB aligned.
inline uint64_t dataOffsetFor(size_t slots) {
  uint64_t end = RECORDS_OFFSET + slots * 2 * sizeof(PoolRecord);
  return (end + DATA_ALIGN - 1) / DATA_ALIGN * DATA_ALIGN;
}

}  // namespace pool_format
}  // namespace server
}  // namespace ioc
