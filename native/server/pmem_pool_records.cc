// A PmemPool's records: two checksummed records per slot written in turn (a torn write leaves
// the other standing), and the tombstones of deletes under way. Read back by
// pmem_pool_recovery.cc.
#include <errno.h>

#include <cstring>

#include "server/pmem_pool.h"
#include "server/pmem_pool_format.h"

namespace ioc {
namespace server {

using namespace pool_format;

PoolRecord *PmemPool::record(uint32_t slot, unsigned copy) const {
  return reinterpret_cast<PoolRecord *>(base_ + RECORDS_OFFSET + ((size_t)slot * 2 + copy) * sizeof(PoolRecord));
}

void PmemPool::writeRecord(uint32_t slot, const SegmentRecord &rec, uint64_t seq, bool persistNow) {
  PoolRecord r{};
  r.magic = RECORD_MAGIC;
  r.flags = RECORD_DIRTY;
  r.high = rec.id.high;
  r.low = rec.id.low;
  r.offset = rec.offset;
  r.size = segmentSize_;
  r.dirtyBegin = rec.dirtyBegin;
  r.dirtyEnd = rec.dirtyEnd;
  r.seq = seq;
  // Over the older of the two: if this write is torn, the newer one still stands.
  unsigned copy = lastCopy_[slot] ^ 1;
  r.checksum = recordChecksum(r, slot, copy);
  PoolRecord *dst = record(slot, copy);
  *dst = r;
  if (persistNow)
    persist(dst, sizeof r);
  else
    flush(dst, sizeof r);
  lastCopy_[slot] = (uint8_t)copy;
}

void PmemPool::clearRecord(uint32_t slot) {
  PoolRecord *r = record(slot, 0);  // both copies: adjacent
  lastCopy_[slot] = 1;
  if (allZero(r, 2 * sizeof *r)) return;
  memset(r, 0, 2 * sizeof *r);
  persist(r, 2 * sizeof *r);
}

PoolRecord *PmemPool::tombstone(size_t slot) const {
  return reinterpret_cast<PoolRecord *>(base_ + TOMBSTONES_OFFSET + slot * sizeof(PoolRecord));
}

int PmemPool::writeTombstone(const ObjectId &id, uint64_t seq) {
  for (size_t i = 0; i < TOMBSTONES; i++) {
    if (tombstoneUsed_[i]) continue;
    PoolRecord r{};
    r.magic = RECORD_MAGIC;
    r.flags = RECORD_TOMBSTONE;
    r.high = id.high;
    r.low = id.low;
    r.seq = seq;
    r.checksum = tombstoneChecksum(r, i);
    *tombstone(i) = r;
    persist(tombstone(i), sizeof r);
    tombstoneUsed_[i] = true;
    return (int)i;
  }
  return -EBUSY;
}

void PmemPool::clearTombstone(int slot) {
  if (slot < 0 || (size_t)slot >= TOMBSTONES) return;
  memset(tombstone(slot), 0, sizeof(PoolRecord));
  persist(tombstone(slot), sizeof(PoolRecord));
  tombstoneUsed_[slot] = false;
}

}  // namespace server
}  // namespace ioc
