// The segment cache at start: the dirty segments a durable memory kept from a previous run are
// taken back (their clean bytes reloaded from the store), and tombstoned deletes completed.
#include <errno.h>

#include <algorithm>
#include <cstring>

#include "server/log.h"
#include "server/segment_cache.h"
#include "server/segment_cache_job.h"

namespace ioc {
namespace server {

int reloadClean(BackingStore &store, const ObjectId &id, uint64_t objSize, uint64_t segOffset, char *data,
                       uint64_t segSize, uint64_t dirtyBegin, uint64_t dirtyEnd) {
  uint64_t valid = std::min<uint64_t>(segSize, objSize - std::min(objSize, segOffset));
  if (dirtyBegin > 0) {
    ssize_t r = store.read(id, segOffset, data, std::min(dirtyBegin, valid));
    if (r < 0) return (int)r;
  }
  if (dirtyEnd < valid) {
    ssize_t r = store.read(id, segOffset + dirtyEnd, data + dirtyEnd, valid - dirtyEnd);
    if (r < 0) return (int)r;
  }
  return 0;
}

void SegmentCache::recover() {
  std::vector<RecoveredSegment> found = memory_.recover();
  for (const Tombstone &t : memory_.recoverTombstones()) completeDelete(t, found);
  if (found.empty()) return;
  std::sort(found.begin(), found.end(), [](const RecoveredSegment &a, const RecoveredSegment &b) { return a.seq < b.seq; });
  for (const RecoveredSegment &r : found) {
    Object &obj = object(r.record.id);
    auto it = obj.segments.find(r.record.offset);
    if (it != obj.segments.end()) drop(it->second);  // an older record of the same segment
    Segment *seg = new Segment;
    seg->id = r.record.id;
    seg->obj = &obj;
    seg->offset = r.record.offset;
    seg->slot = r.slot;
    seg->dirtyBegin = r.record.dirtyBegin;
    seg->dirtyEnd = r.record.dirtyEnd;
    seg->lru = lru_.insert(lru_.end(), seg);
    obj.segments[seg->offset] = seg;
    obj.known = true;
    obj.size = std::max<uint64_t>(obj.size, seg->offset + seg->dirtyEnd);
    stats_.segments++;
    stats_.bytes += segmentSize_;
    stats_.dirtyBytes += seg->dirtyEnd - seg->dirtyBegin;
  }
  uint64_t n = 0;
  for (Segment *seg : lru_) {
    int ret = reloadClean(store_, seg->id, seg->obj->size, seg->offset, seg->slot.data, segmentSize_,
                          seg->dirtyBegin, seg->dirtyEnd);
    if (ret < 0)
      log(LOG_WARN, "cache", "cannot reload the clean part of a recovered segment: %s", strerror(-ret));
    n++;
  }
  log(LOG_INFO, "cache", "recovered %llu dirty segments (%llu bytes dirty) from %s", (unsigned long long)n,
      (unsigned long long)stats_.dirtyBytes, memory_.describe().c_str());
  // With write-behind, recovered dirty data starts for the store now, as if it had just landed
  // (else it waited for a flush or the next shutdown). Completions wait for the server loop.
  if (writeBehind_)
    for (Segment *seg : lru_) wantDrain(*seg->obj);
}

}  // namespace server
}  // namespace ioc
