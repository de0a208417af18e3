// A PmemPool after a restart: each slot's newest valid record names a dirty segment to serve
// again; every other slot is emptied. Tombstones name the deletes that were under way.
#include <string.h>

#include <algorithm>

#include "server/log.h"
#include "server/pmem_pool.h"
#include "server/pmem_pool_format.h"

namespace ioc {
namespace server {

using namespace pool_format;

// The copy (0 or 1) holding the slot's newest valid record, or -1; damaged: a copy that is
// neither empty nor valid (torn or corrupt).
int PmemPool::newestRecord(uint32_t slot, bool &damaged) const {
  int best = -1;
  damaged = false;
  for (unsigned c = 0; c < 2; c++) {
    const PoolRecord &r = *record(slot, c);
    if (allZero(&r, sizeof r)) continue;
    bool valid = r.magic == RECORD_MAGIC && r.checksum == recordChecksum(r, slot, c) && r.size == segmentSize_ &&
                 r.dirtyBegin < r.dirtyEnd && r.dirtyEnd <= segmentSize_ && r.offset % segmentSize_ == 0 &&
                 (r.flags & RECORD_DIRTY);
    if (!valid)
      damaged = true;
    else if (best < 0 || r.seq > record(slot, (unsigned)best)->seq)
      best = (int)c;
  }
  return best;
}

void PmemPool::recover(std::vector<RecoveredSegment> &out) {
  free_.clear();
  size_t corrupt = 0, found = 0, torn = 0;
  for (uint32_t i = 0; i < slots_; i++) {
    bool damaged;
    int best = newestRecord(i, damaged);
    if (best < 0) {
      if (damaged) {
        corrupt++;
        log(LOG_ERROR, "cache",
            "corrupt cache records in pool %s slot %u (checksums or fields do not match): its segment is not served, "
            "the object falls back to the store", path_.c_str(), i);
      }
      clearRecord(i);
      free_.push_back(i);
      continue;
    }
    if (damaged) torn++;  // the other copy: a record update cut off; the previous record stands
    // Reserved when handed out, so normally a no-op: the clean part is reloaded into it next.
    int reserved = reserve(slotOffset(i), segmentSize_);
    if (reserved < 0)
      log(LOG_ERROR, "cache", "pool %s slot %u: cannot reserve its blocks: %s", path_.c_str(), i, strerror(-reserved));
    const PoolRecord r = *record(i, (unsigned)best);
    lastCopy_[i] = (uint8_t)best;
    RecoveredSegment s;
    s.slot = slotAt(i);
    s.record.id = ObjectId{r.low, r.high};
    s.record.offset = r.offset;
    s.record.dirtyBegin = r.dirtyBegin;
    s.record.dirtyEnd = r.dirtyEnd;
    s.seq = r.seq;
    out.push_back(s);
    found++;
  }
  emptyFreeSlots();
  if (found || corrupt || torn)
    log(LOG_INFO, "cache", "pool %s: recovered %zu dirty segments (%zu from their previous record: the newer one was torn), "
        "%zu slots with only corrupt records", path_.c_str(), found, torn, corrupt);
}

// Free slots may still hold data a crash left behind: empty them, a run at a time (kept slots
// keep their blocks and are zeroed when handed out). Low indexes are handed out first.
void PmemPool::emptyFreeSlots() {
  for (size_t a = 0; a < free_.size();) {
    if (free_[a] < keptSlots_) {
      stale_[free_[a++]] = true;
      continue;
    }
    size_t b = a + 1;
    while (b < free_.size() && free_[b] == free_[b - 1] + 1) b++;
    punch(free_[a], (uint32_t)(b - a));
    a = b;
  }
  std::reverse(free_.begin(), free_.end());
}

void PmemPool::recoverTombstones(std::vector<Tombstone> &out) {
  for (size_t i = 0; i < TOMBSTONES; i++) {
    PoolRecord r = *tombstone(i);
    if (allZero(&r, sizeof r)) continue;
    if (r.magic != RECORD_MAGIC || r.flags != RECORD_TOMBSTONE || r.checksum != tombstoneChecksum(r, i)) {
      // Torn while written: the delete had not begun (it starts once this is durable).
      log(LOG_WARN, "cache", "pool %s: a damaged delete tombstone (slot %zu) is dropped: that delete never began",
          path_.c_str(), i);
      clearTombstone((int)i);
      continue;
    }
    tombstoneUsed_[i] = true;
    out.push_back(Tombstone{ObjectId{r.low, r.high}, r.seq, (int)i});
  }
}

}  // namespace server
}  // namespace ioc
