// Copy-on-write in the segment cache: the job that runs on the destination's queue (its dirty
// bytes, the store's copy of the source, the source's dirty cached bytes over it) and what the
// cache does before and after it.
#include <errno.h>

#include <algorithm>
#include <cstring>

#include "server/log.h"
#include "server/segment_cache.h"
#include "server/segment_cache_job.h"

namespace ioc {
namespace server {

// --- copy-on-write ---

StoreWorker::Work SegmentCache::CowJob::start(SegmentCache &cache, Object &obj) {
  cache.snapshotCow(obj, *this);
  BackingStore &store = cache.store_;
  ObjectId id = obj.id, from = src;
  std::vector<StoreWrite> before = writes, over = overlay;
  bool all = whole, durable = cache.memory_.durable();
  uint64_t off = offset, len = size;
  return [&store, id, from, all, off, len, before, over, durable] {
    for (const StoreWrite &w : before) {  // the destination's dirty bytes first
      ssize_t r = store.write(id, w.storeOffset, w.data, w.len);
      if (r < 0) return (int)r;
    }
    int r = all ? store.copy(from, id) : store.copyRange(from, id, off, len);
    if (r < 0) return r;
    for (const StoreWrite &w : over) {  // then what only the source's cache holds
      ssize_t n = store.write(id, w.storeOffset, w.data, w.len);
      if (n < 0) return (int)n;
    }
    // With a pool, the destination's records go once the store has their bytes durably.
    return durable || !before.empty() ? store.sync(id) : 0;
  };
}

void SegmentCache::CowJob::finish(SegmentCache &cache, Object &obj, int ret, std::vector<Segment *> &unpin) {
  for (const StoreWrite &w : writes) unpin.push_back(w.seg);
  for (const StoreWrite &w : overlay) unpin.push_back(w.seg);
  cache.cowDone(obj, *this, ret);
}

int SegmentCache::cow(const ObjectId &src, const ObjectId &dst, bool allowExist, uint64_t offset, uint64_t size,
                      std::function<void(int)> done) {
  if (src == dst) return -EINVAL;
  if (offset + size < offset) return -EINVAL;
  pruneIdle();
  // Store jobs (stats included) and in-place writes on either object go first.
  if (entry(src).statError) return takeStatError(entry(src));
  if (entry(dst).statError) return takeStatError(entry(dst));
  if (!entry(src).statted || !entry(dst).statted || objectBusy(src) || objectBusy(dst)) return kBusy;
  if (!exists(src)) return -ENOENT;
  if (!allowExist && exists(dst)) return -EEXIST;
  Object &d = entry(dst);
  entry(src).cowReaders++;  // a delete of the source waits for the copy
  std::unique_ptr<CowJob> job(new CowJob);
  job->src = src;
  job->whole = size == 0;
  job->offset = offset;
  job->size = size;
  job->done = std::move(done);
  d.cowing = true;
  enqueue(d, std::move(job));
  return 0;
}

// The bytes of seg's dirty range within [from, to) of the object and its logical size.
static bool dirtyPart(uint64_t segOffset, uint32_t dirtyBegin, uint32_t dirtyEnd, uint64_t objSize, uint64_t from,
                      uint64_t to, uint64_t &b, uint64_t &e) {
  b = std::max<uint64_t>(segOffset + dirtyBegin, from);
  e = std::min<uint64_t>({segOffset + dirtyEnd, to, objSize});
  return e > b;
}

void SegmentCache::snapshotCow(Object &dst, CowJob &job) {
  uint64_t from = job.whole ? 0 : job.offset, to = job.whole ? UINT64_MAX : job.offset + job.size;
  auto srcIt = objects_.find(job.src);
  if (srcIt != objects_.end()) {
    job.srcSize = srcIt->second.size;
    for (auto &kv : srcIt->second.segments) {
      Segment *seg = kv.second;
      uint64_t b, e;
      if (!seg->dirty() || !dirtyPart(seg->offset, seg->dirtyBegin, seg->dirtyEnd, srcIt->second.size, from, to, b, e))
        continue;
      seg->pins++;
      job.overlay.push_back({seg, b, seg->slot.data + (b - seg->offset), (size_t)(e - b), seg->gen});
    }
  }
  if (job.whole) return;  // the destination is replaced: its dirty bytes are obsolete
  for (auto &kv : dst.segments) {
    Segment *seg = kv.second;
    uint64_t b, e;
    if (!seg->dirty() || seg->offset + segmentSize_ <= from || seg->offset >= to) continue;
    // The whole dirty range (also outside the copied range: those bytes must reach the store
    // before the segment is dropped).
    if (!dirtyPart(seg->offset, seg->dirtyBegin, seg->dirtyEnd, dst.size, 0, UINT64_MAX, b, e)) continue;
    seg->pins++;
    job.writes.push_back({seg, b, seg->slot.data + (b - seg->offset), (size_t)(e - b), seg->gen});
  }
}

void SegmentCache::cowDone(Object &dst, CowJob &job, int ret) {
  dst.cowing = false;
  dst.inStore = Object::InStore();  // the copy's size (even a failed one's) is the store's to say
  auto src = objects_.find(job.src);
  if (src != objects_.end()) {
    src->second.cowReaders--;
    idle_.push_back(job.src);
  }
  if (ret < 0) {
    log(LOG_WARN, "cache", "cow %llx:%llx -> %llx:%llx failed: %s", (unsigned long long)job.src.high,
        (unsigned long long)job.src.low, (unsigned long long)dst.id.high, (unsigned long long)dst.id.low,
        strerror(-ret));
    return;
  }
  // The store holds the result: the destination's cached segments in the range are stale.
  uint64_t from = job.whole ? 0 : job.offset, to = job.whole ? UINT64_MAX : job.offset + job.size;
  std::vector<Segment *> stale;
  for (auto &kv : dst.segments)
    if (kv.second->offset + segmentSize_ > from && kv.second->offset < to) stale.push_back(kv.second);
  for (Segment *seg : stale) {
    markClean(*seg);  // written before the copy, or replaced by it
    drop(seg);
  }
  dst.known = true;
  dst.size = job.whole ? job.srcSize : std::max<uint64_t>(dst.size, to);
}

}  // namespace server
}  // namespace ioc
