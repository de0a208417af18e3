// The segment cache's in-place writes: an RMA lands in clean segments directly, holding only its
// byte range (others wait on it); a failed one restores the stored bytes, and one whose RMA may
// still land moves its segments to fresh slots (abandonInPlace).
#include <errno.h>

#include <algorithm>
#include <cstring>

#include "server/log.h"
#include "server/segment_cache.h"
#include "server/segment_cache_job.h"

namespace ioc {
namespace server {

bool SegmentCache::writableInPlace(const std::vector<Piece> &pieces) const {
  for (const Piece &p : pieces) {
    const Segment *seg = static_cast<const Segment *>(p.segment);
    if (!seg || !seg->soleCleanUse()) return false;
  }
  return !pieces.empty();
}

void SegmentCache::beginInPlace(const std::vector<Piece> &pieces) {
  for (const Piece &p : pieces) {
    Segment *seg = static_cast<Segment *>(p.segment);
    uint32_t b = (uint32_t)(p.ptr - seg->slot.data);
    seg->held.push_back({b, (uint32_t)(b + p.len)});
    seg->obj->inPlaceWrites++;
  }
}

void SegmentCache::unhold(Segment *seg, uint32_t b, uint32_t e) {
  for (auto it = seg->held.begin(); it != seg->held.end(); ++it) {
    if (it->first != b || it->second != e) continue;
    seg->held.erase(it);
    seg->obj->inPlaceWrites--;
    if (seg->obj->inPlaceWrites == 0) idle_.push_back(seg->id);
    break;
  }
  progress_++;  // requests waiting for the range go on
}

void SegmentCache::endInPlace(const std::vector<Piece> &pieces, bool ok) {
  size_t restored = 0;
  for (const Piece &p : pieces) {
    Segment *seg = static_cast<Segment *>(p.segment);
    if (!seg) continue;
    uint32_t b = (uint32_t)(p.ptr - seg->slot.data), e = (uint32_t)(b + p.len);
    if (!seg->overlapsHeld(b, e)) continue;  // abandoned earlier (abandonInPlace): nothing held here
    if (ok || seg->detached()) {
      unhold(seg, b, e);
    } else if (b == 0 && e == segmentSize_) {
      // The whole segment: it was clean and nobody else touched it meanwhile: dropping it (at
      // release) undoes the partial transfer; the next access loads the stored bytes again.
      unhold(seg, b, e);
      seg->moveTo(Fill::Unloaded);
      restored++;
    } else {
      restoreRange(seg, b, e);  // the range stays held until the stored bytes are back
      restored++;
    }
  }
  if (!ok)
    log(LOG_INFO, "cache",
        "an in-place write of %zu segment(s) did not complete: its range is restored from the store (%zu piece(s))",
        pieces.size(), restored);
  progress_++;
}

void SegmentCache::restoreRange(Segment *seg, uint32_t b, uint32_t e) {
  seg->pins++;  // the job's
  enqueue(*seg->obj, std::unique_ptr<StoreJob>(new RestoreJob(seg, b, e)));
}

bool SegmentCache::abandonInPlace(std::vector<Piece> &pieces) {
  bool all = true;
  for (Piece &p : pieces) {
    Segment *seg = static_cast<Segment *>(p.segment);
    if (!seg || seg->detached()) continue;
    uint32_t b = (uint32_t)(p.ptr - seg->slot.data), e = (uint32_t)(b + p.len);
    if (!seg->overlapsHeld(b, e)) continue;
    if (b == 0 && e == segmentSize_) {
      // Nobody else has bytes in it: detached, its slot stays with the request (freed at its
      // release); the next access loads the stored bytes into a new one.
      unhold(seg, b, e);
      drop(seg);
      continue;
    }
    // Another request pins the segment (its pieces point into this slot): later.
    if (seg->pins != 1 || seg->inBatch || seg->writingBack) {
      all = false;
      continue;
    }
    SegmentSlot fresh;
    if (memory_.allocate(fresh, true, true) < 0) {
      all = false;
      continue;
    }
    SegmentSlot old = seg->slot;
    memcpy(fresh.data, old.data, b);
    memcpy(fresh.data + e, old.data + e, segmentSize_ - e);
    memset(fresh.data + b, 0, e - b);  // until the restore: never a recycled slot's bytes
    Segment *ghost = new Segment;
    ghost->id = seg->id;
    ghost->obj = seg->obj;
    ghost->offset = seg->offset;
    ghost->slot = old;
    ghost->pins = 1;  // the request's: the old slot is freed when it ends
    ghost->fill = Fill::Detached;  // its first state: it only keeps the old slot until the request ends
    seg->slot = fresh;
    seg->pins--;
    if (memory_.durable()) {
      // A durable segment held by an in-place write took no other write: it is clean, but keep
      // its record right if it ever is not.
      if (seg->dirty()) {
        memory_.persistData(fresh, seg->dirtyBegin, seg->dirtyEnd - seg->dirtyBegin);
        memory_.writeRecord(fresh, SegmentRecord{seg->id, seg->offset, seg->dirtyBegin, seg->dirtyEnd});
      }
      memory_.clearRecord(old);
    }
    p.segment = ghost;
    restoreRange(seg, b, e);
  }
  progress_++;
  return all;
}

}  // namespace server
}  // namespace ioc
