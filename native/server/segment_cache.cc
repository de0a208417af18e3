#include "server/segment_cache.h"

#include <errno.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "server/log.h"

namespace ioc {
namespace server {

// A unit of store I/O on one object. Spill segments are chosen (and pinned) when queued; a
// flush picks its dirty segments when it starts, so that it covers every write acknowledged
// before it was asked for.
struct SegmentCache::StoreJob {
  enum class Kind { Stat, Create, Load, Spill, Flush, Cow } kind;
  ObjectId cowSrc;        // Cow: the source (the job runs on the destination's queue)
  bool cowWhole = false;  // Cow: the whole object (else offset/size)
  uint64_t cowSrcSize = 0;  // Cow: the source's logical size when the job started
  bool statExists = false;  // Stat: filled by the store thread
  int64_t statSize = 0;
  Segment *load = nullptr;        // Load: the segment to fill (pinned)
  std::vector<Segment *> segs;    // Spill: chosen when queued; Flush: chosen when started (pinned)
  uint64_t offset = 0, size = 0;  // Flush: range (size 0: whole object); Load: bytes to read
  bool drain = false;             // Flush: write-behind (no reply; synced only for a durable pool)
  std::function<void(int)> done;  // Flush: the reply
  struct Write {
    Segment *seg;
    uint64_t storeOffset;
    const char *data;
    size_t len;
    uint64_t gen;
  };
  std::vector<Write> writes;  // snapshot taken when the job starts (Cow: the destination's)
  std::vector<Write> cowOverlay;  // Cow: the source's dirty bytes, written over the copy
};

SegmentCache::SegmentCache(BackingStore &store, SegmentMemory &memory, const CacheLimits &limits,
                           std::function<void()> wake)
    : store_(store),
      memory_(memory),
      segmentSize_(memory.segmentSize()),
      limit_(limits.cacheSize),
      highWater_((uint64_t)(limits.cacheSize * limits.highWater)),
      lowWater_((uint64_t)(limits.cacheSize * limits.lowWater)),
      writeBehind_(limits.writeBehind),
      maxDrains_(std::max<size_t>(1, limits.storeThreads / 2)),
      worker_(limits.storeThreads, std::move(wake)) {
  stats_.limitBytes = limits.cacheSize;
  recover();
}

SegmentCache::~SegmentCache() {
  // Slots are not released: a durable pool keeps the records of whatever is still dirty.
  // Jobs may still run on stuck store threads (after a bounded shutdown): their segments stay.
  if (worker_.outstanding() == 0)
    for (Segment *seg : lru_) delete seg;
}

SegmentCache::Object &SegmentCache::object(const ObjectId &id) {
  auto it = objects_.find(id);
  if (it != objects_.end()) return it->second;
  Object &obj = objects_[id];
  obj.id = id;
  obj.statted = true;
  int64_t size = 0;
  int found = store_.probe(id, size);
  if (found < 0)  // never "absent": that would serve zeros for what the store may hold
    log(LOG_ERROR, "cache", "cannot look an object up in the store: %s (taken as existing)", strerror(-found));
  obj.known = found != 0;
  obj.size = found > 0 ? (uint64_t)size : 0;
  return obj;
}

SegmentCache::Object &SegmentCache::entry(const ObjectId &id) {
  auto it = objects_.find(id);
  if (it != objects_.end()) return it->second;
  Object &obj = objects_[id];
  obj.id = id;
  std::unique_ptr<StoreJob> job(new StoreJob);
  job->kind = StoreJob::Kind::Stat;
  enqueue(obj, std::move(job));
  return obj;
}

int SegmentCache::lookup(const ObjectId &id, Object *&out) {
  Object &obj = entry(id);
  if (obj.statError) return takeStatError(obj);
  if (!obj.statted) return kBusy;
  out = &obj;
  return 0;
}

int SegmentCache::takeStatError(Object &obj) {
  // The store could not say whether it holds the object: an error, never zeros. Once nothing
  // holds the entry it goes, so that the next access asks the store again.
  int err = obj.statError;
  if (obj.segments.empty() && obj.jobs.empty() && !obj.jobRunning && obj.inPlaceWrites == 0 && !obj.drainQueued)
    objects_.erase(obj.id);
  return err;
}

void SegmentCache::pruneIdle() {
  std::vector<ObjectId> candidates;
  candidates.swap(idle_);
  for (const ObjectId &id : candidates) {
    auto it = objects_.find(id);
    if (it == objects_.end()) continue;
    const Object &obj = it->second;
    // Without segments the entry says what the store says (a dirty segment is written back
    // before it is dropped); jobs, in-place writes and the drain queue hold pointers to it.
    if (obj.segments.empty() && obj.jobs.empty() && !obj.jobRunning && obj.inPlaceWrites == 0 && !obj.drainQueued &&
        (obj.statted || obj.statError))
      objects_.erase(it);
  }
}

// Reload the bytes of a segment that are not dirty (they must equal the store's).
static int reloadClean(BackingStore &store, const ObjectId &id, uint64_t objSize, uint64_t segOffset, char *data,
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
}

int SegmentCache::segment(const ObjectId &id, Object &obj, uint64_t segOffset, bool fullOverwrite, bool write,
                          Segment *&out) {
  auto it = obj.segments.find(segOffset);
  if (it != obj.segments.end()) {
    Segment *seg = it->second;
    if (seg->loading || seg->inPlace) return kBusy;
    if (seg->loadError) {
      int err = seg->loadError;  // reported once; the next access loads again
      if (seg->pins == 0) drop(seg);
      return err;
    }
    stats_.hits++;
    out = seg;
    lru_.splice(lru_.end(), lru_, out->lru);
    return 0;
  }
  stats_.misses++;
  if (stats_.bytes + segmentSize_ > highWater_) evict(lowWater_);
  if (stats_.bytes + segmentSize_ > limit_) {
    // Over the bound: wait for the spills under way; when the store refuses them, refuse new
    // dirty data (ENOSPC) rather than grow without bound. Reads may go over: their segments
    // are clean and dropped once released.
    if (spillingBytes_ > 0) return kBusy;
    if (spillError_ && write) {
      stats_.refusedWrites++;
      return -ENOSPC;
    }
  }
  SegmentSlot slot;
  int got = memory_.allocate(slot);
  if (got == -ENOSPC) {
    // The pool's filesystem is full: dropped segments give their blocks back. A quarter first,
    // so that the next misses find room too.
    evict(stats_.bytes - stats_.bytes / 4);
    got = memory_.allocate(slot);
  }
  if (got < 0) {
    // Every slot taken (the pool only has room beyond the cache size for pinned segments), or
    // still no room in the pool's filesystem.
    evict(0);
    got = memory_.allocate(slot);
    if (got < 0) {
      if (spillingBytes_ > 0) return kBusy;  // spilled segments give their slots back
      if (got == -ENOMEM)
        log(LOG_ERROR, "cache", "no free segment slot (%llu segments pinned by requests in flight)",
            (unsigned long long)stats().pinned);
      else
        log(LOG_ERROR, "cache", "no room for a segment in %s: %s", memory_.describe().c_str(), strerror(-got));
      return got;
    }
  }
  Segment *seg = new Segment;
  seg->id = id;
  seg->obj = &obj;
  seg->offset = segOffset;
  seg->slot = slot;
  seg->unloaded = fullOverwrite && segOffset < obj.size;
  seg->lru = lru_.insert(lru_.end(), seg);
  obj.segments[segOffset] = seg;
  stats_.segments++;
  stats_.bytes += segmentSize_;
  // Fresh slots read as zeros: only data the store holds needs loading.
  if (!fullOverwrite && segOffset < obj.size) {
    size_t len = std::min<uint64_t>(segmentSize_, obj.size - segOffset);
    seg->loading = true;
    seg->pins++;  // the load job's
    std::unique_ptr<StoreJob> job(new StoreJob);
    job->kind = StoreJob::Kind::Load;
    job->load = seg;
    job->size = len;
    enqueue(obj, std::move(job));
    return kBusy;
  }
  out = seg;
  return 0;
}

int SegmentCache::access(const ObjectId &id, uint64_t offset, uint64_t size, bool write, std::vector<Piece> &out) {
  pruneIdle();
  out.clear();
  if (offset + size < offset) return -EINVAL;
  Object *o = nullptr;
  if (int ret = lookup(id, o)) return ret;
  Object &obj = *o;
  if (obj.cowing) return kBusy;
  uint64_t end = offset + size;
  bool busy = false;
  for (uint64_t pos = offset; pos < end;) {
    uint64_t segOffset = pos - pos % segmentSize_;
    uint64_t inSeg = pos - segOffset;
    size_t len = std::min<uint64_t>(segmentSize_ - inSeg, end - pos);
    Segment *seg = nullptr;
    int ret = segment(id, obj, segOffset, write && inSeg == 0 && len == segmentSize_, write, seg);
    if (ret == kBusy) {
      // Start the loads of the other missing segments too (they run while we wait), but pin
      // nothing: the request runs again from the start.
      busy = true;
      pos += len;
      continue;
    }
    if (ret < 0 || busy) {
      release(out);
      return ret < 0 ? ret : kBusy;
    }
    seg->pins++;  // before the next segment() call, which may evict
    out.push_back({seg->slot.data + inSeg, len, seg->slot.desc, seg});
    pos += len;
  }
  if (busy) {
    release(out);
    return kBusy;
  }
  return 0;
}

int SegmentCache::commit(const std::vector<Piece> &pieces) {
  for (const Piece &p : pieces) {
    Segment *seg = static_cast<Segment *>(p.segment);
    if (!seg || seg->detached) continue;  // detached: the object was replaced meanwhile
    uint32_t b = (uint32_t)(p.ptr - seg->slot.data), e = (uint32_t)(b + p.len);
    uint32_t ob = seg->dirtyBegin, oe = seg->dirtyEnd;
    bool wasDirty = seg->dirty();
    seg->gen++;
    seg->dirtyBegin = wasDirty ? std::min(ob, b) : b;
    seg->dirtyEnd = wasDirty ? std::max(oe, e) : e;
    stats_.dirtyBytes += (seg->dirtyEnd - seg->dirtyBegin) - (oe - ob);
    if (b == 0 && e == segmentSize_) seg->unloaded = false;  // a partial write loads nothing else
    seg->obj->known = true;
    seg->obj->size = std::max<uint64_t>(seg->obj->size, seg->offset + e);
    if (writeBehind_) wantDrain(*seg->obj);
    if (!memory_.durable()) continue;
    // Data first (the written bytes, and any loaded bytes the dirty range now spans), then the
    // record: a record never names bytes that are not durable.
    memory_.persistData(seg->slot, b, e - b);
    if (wasDirty && e < ob) memory_.persistData(seg->slot, e, ob - e);
    if (wasDirty && oe < b) memory_.persistData(seg->slot, oe, b - oe);
    if (!wasDirty || seg->dirtyBegin != ob || seg->dirtyEnd != oe)
      memory_.writeRecord(seg->slot, SegmentRecord{seg->id, seg->offset, seg->dirtyBegin, seg->dirtyEnd});
  }
  return 0;
}

void SegmentCache::release(std::vector<Piece> &pieces) {
  for (Piece &p : pieces) {
    Segment *seg = static_cast<Segment *>(p.segment);
    if (!seg) continue;
    p.segment = nullptr;
    seg->pins--;
    if (seg->detached) {
      if (seg->pins == 0) {
        memory_.release(seg->slot);
        delete seg;
      }
      continue;
    }
    if (seg->unloaded && seg->pins == 0) {
      // A full overwrite skipped loading, then never arrived (or an in-place write failed): the
      // slot does not hold the object, and no request in flight will fill it any more.
      if (!seg->dirty()) {
        drop(seg);
        continue;
      }
      int ret = reloadClean(store_, seg->id, seg->obj->size, seg->offset, seg->slot.data, segmentSize_,
                            seg->dirtyBegin, seg->dirtyEnd);
      if (ret < 0) log(LOG_WARN, "cache", "cannot reload a segment after a failed write: %s", strerror(-ret));
      seg->unloaded = false;
    }
    // Read of an object nobody created or wrote: the segment is zeros, not worth a slot (reads
    // of absent objects would otherwise push real data out of the cache).
    if (seg->pins == 0 && !seg->obj->known && !seg->dirty() && !seg->loading && !seg->inPlace && !seg->writingBack)
      drop(seg);
  }
  progress_++;  // unpinned segments may be evicted now, making room for a waiting request
  // A large request may have pinned the cache past its high-water mark: shrink back now.
  if (stats_.bytes > highWater_) evict(lowWater_);
}

bool SegmentCache::writableInPlace(const std::vector<Piece> &pieces) const {
  for (const Piece &p : pieces) {
    const Segment *seg = static_cast<const Segment *>(p.segment);
    if (!seg || seg->detached || seg->dirty() || seg->pins != 1 || seg->writingBack) return false;
  }
  return !pieces.empty();
}

void SegmentCache::beginInPlace(const std::vector<Piece> &pieces) {
  for (const Piece &p : pieces) {
    Segment *seg = static_cast<Segment *>(p.segment);
    seg->inPlace = true;
    seg->obj->inPlaceWrites++;
  }
}

void SegmentCache::endInPlace(const std::vector<Piece> &pieces, bool ok) {
  if (!ok)
    log(LOG_INFO, "cache", "an in-place write of %zu segment(s) did not complete: the segments are dropped",
        pieces.size());
  for (const Piece &p : pieces) {
    Segment *seg = static_cast<Segment *>(p.segment);
    if (!seg || !seg->inPlace) continue;
    seg->inPlace = false;
    seg->obj->inPlaceWrites--;
    // The segment was clean and nobody else touched it meanwhile: dropping it (at release)
    // undoes the partial transfer; the next access loads the stored bytes again.
    if (!ok && !seg->detached) seg->unloaded = true;
  }
  progress_++;
}

void SegmentCache::markClean(Segment &seg) {
  if (!seg.dirty()) return;
  stats_.dirtyBytes -= seg.dirtyEnd - seg.dirtyBegin;
  seg.dirtyBegin = seg.dirtyEnd = 0;
  memory_.clearRecord(seg.slot);
}

void SegmentCache::drop(Segment *seg) {
  seg->obj->segments.erase(seg->offset);
  if (seg->obj->segments.empty()) idle_.push_back(seg->id);
  lru_.erase(seg->lru);
  stats_.segments--;
  stats_.bytes -= segmentSize_;
  stats_.dirtyBytes -= seg->dirtyEnd - seg->dirtyBegin;
  if (seg->pins > 0) {
    // An in-flight request still uses the memory: free it at its release.
    seg->detached = true;
    memory_.clearRecord(seg->slot);
    return;
  }
  memory_.release(seg->slot);
  delete seg;
}

void SegmentCache::evict(uint64_t target) {
  if (stats_.bytes - spillingBytes_ <= target) return;
  // After a failed spill, try again at most once a second (the store is full or failing).
  bool maySpill = !spillError_ || std::chrono::steady_clock::now() >= spillRetryAt_;
  uint64_t projected = stats_.bytes - spillingBytes_;
  std::map<Object *, std::vector<Segment *>> spills;
  std::vector<Segment *> clean;
  for (Segment *seg : lru_) {
    if (projected <= target) break;
    if (seg->pins > 0 || seg->loading || seg->inPlace) continue;
    if (!seg->dirty()) {
      clean.push_back(seg);
    } else {
      if (!maySpill) continue;
      spills[seg->obj].push_back(seg);
    }
    projected -= segmentSize_;
  }
  for (Segment *seg : clean) {
    drop(seg);
    stats_.evictions++;
  }
  for (auto &kv : spills) {
    std::unique_ptr<StoreJob> job(new StoreJob);
    job->kind = StoreJob::Kind::Spill;
    for (Segment *seg : kv.second) {
      seg->pins++;
      seg->writingBack = true;
      spillingBytes_ += segmentSize_;
    }
    job->segs = std::move(kv.second);
    enqueue(*kv.first, std::move(job));
  }
}

void SegmentCache::enqueue(Object &obj, std::unique_ptr<StoreJob> job) {
  stats_.storeJobs++;
  obj.jobs.push_back(std::move(job));
  if (!obj.jobRunning) startNextJob(obj);
}

// Snapshot what the job writes (the dirty bytes within the object's logical size: never a
// segment's zero tail), then run it on a store thread.
void SegmentCache::startNextJob(Object &obj) {
  if (obj.jobs.empty()) return;
  obj.jobRunning = true;
  StoreJob *job = obj.jobs.front().get();
  if (job->kind == StoreJob::Kind::Flush) {
    uint64_t end = job->size == 0 ? UINT64_MAX : job->offset + job->size;
    for (auto &kv : obj.segments) {
      Segment *seg = kv.second;
      if (seg->offset + segmentSize_ <= job->offset || seg->offset >= end || !seg->dirty()) continue;
      seg->pins++;
      job->segs.push_back(seg);
    }
  }
  if (job->kind == StoreJob::Kind::Spill || job->kind == StoreJob::Kind::Flush) {
    for (Segment *seg : job->segs) {
      uint64_t size = obj.size;
      uint64_t e = std::min<uint64_t>(seg->dirtyEnd, size - std::min(size, seg->offset));
      if (!seg->dirty() || seg->detached || e <= seg->dirtyBegin) {
        job->writes.push_back({seg, 0, nullptr, 0, seg->gen});  // nothing to write; cleared if unchanged
        continue;
      }
      job->writes.push_back({seg, seg->offset + seg->dirtyBegin, seg->slot.data + seg->dirtyBegin,
                             (size_t)(e - seg->dirtyBegin), seg->gen});
    }
  }
  ObjectId id = obj.id;
  BackingStore &store = store_;
  StoreWorker::Work work;
  if (job->kind == StoreJob::Kind::Stat) {
    work = [&store, id, job] {
      int found = store.probe(id, job->statSize);
      job->statExists = found > 0;
      return found < 0 ? found : 0;
    };
  } else if (job->kind == StoreJob::Kind::Create) {
    work = [&store, id] { return store.create(id); };
  } else if (job->kind == StoreJob::Kind::Cow) {
    snapshotCow(obj, *job);
    std::vector<StoreJob::Write> before = job->writes, overlay = job->cowOverlay;
    ObjectId src = job->cowSrc;
    bool whole = job->cowWhole, durable = memory_.durable();
    uint64_t offset = job->offset, size = job->size;
    work = [&store, id, src, whole, offset, size, before, overlay, durable] {
      for (const StoreJob::Write &w : before) {  // the destination's dirty bytes first
        ssize_t r = store.write(id, w.storeOffset, w.data, w.len);
        if (r < 0) return (int)r;
      }
      int r = whole ? store.copy(src, id) : store.copyRange(src, id, offset, size);
      if (r < 0) return r;
      for (const StoreJob::Write &w : overlay) {  // then what only the source's cache holds
        ssize_t n = store.write(id, w.storeOffset, w.data, w.len);
        if (n < 0) return (int)n;
      }
      // With a pool, the destination's records go once the store has their bytes durably.
      return durable || !before.empty() ? store.sync(id) : 0;
    };
  } else if (job->kind == StoreJob::Kind::Load) {
    char *data = job->load->slot.data;
    uint64_t offset = job->load->offset, len = job->size;
    work = [&store, id, data, offset, len] {
      ssize_t r = store.read(id, offset, data, len);
      return r < 0 ? (int)r : 0;
    };
  } else {
    std::vector<StoreJob::Write> writes = job->writes;
    bool flush = job->kind == StoreJob::Kind::Flush && !job->drain;
    bool create = flush && obj.known;        // created-but-empty objects persist too
    bool sync = flush || memory_.durable();  // a durable pool drops records only once synced
    work = [&store, id, writes, create, sync] {
      for (const StoreJob::Write &w : writes) {
        if (!w.len) continue;
        ssize_t r = store.write(id, w.storeOffset, w.data, w.len);
        if (r < 0) return (int)r;
      }
      if (create && !store.exists(id)) {
        int r = store.create(id);
        if (r < 0) return r;
      }
      return sync ? store.sync(id) : 0;
    };
  }
  Object *o = &obj;
  worker_.submit(std::move(work), [this, o, job](int ret) { jobDone(*o, *job, ret); });
}

void SegmentCache::jobDone(Object &obj, StoreJob &job, int ret) {
  std::unique_ptr<StoreJob> owned = std::move(obj.jobs.front());
  obj.jobs.pop_front();
  obj.jobRunning = false;
  stats_.storeJobs--;
  progress_++;
  std::vector<Segment *> unpin;
  if (job.kind == StoreJob::Kind::Cow) {
    for (const StoreJob::Write &w : job.writes) unpin.push_back(w.seg);
    for (const StoreJob::Write &w : job.cowOverlay) unpin.push_back(w.seg);
    cowDone(obj, job, ret);
  } else if (job.kind == StoreJob::Kind::Stat) {
    if (ret < 0) {
      // Not "absent" (its data would read as zeros): the waiting requests get the error.
      log(LOG_ERROR, "cache", "cannot look an object up in the store: %s", strerror(-ret));
      obj.statError = ret;
    } else {
      if (job.statExists) obj.known = true;
      obj.size = std::max<uint64_t>(obj.size, (uint64_t)job.statSize);
      obj.statted = true;
    }
  } else if (job.kind == StoreJob::Kind::Create) {
    if (ret == 0) obj.known = true;
  } else if (job.kind == StoreJob::Kind::Load) {
    Segment *seg = job.load;
    seg->loading = false;
    if (ret < 0) {
      seg->loadError = ret;
      log(LOG_WARN, "cache", "cannot load a segment from the store: %s", strerror(-ret));
    }
    unpin.push_back(seg);
  } else {
    uint64_t written = 0;
    for (const StoreJob::Write &w : job.writes) {
      // Cleared only if no write landed meanwhile: a later write keeps the segment dirty.
      if (ret == 0 && w.seg->gen == w.gen && !w.seg->detached) markClean(*w.seg);
      written += w.len;
      unpin.push_back(w.seg);
    }
    if (job.kind == StoreJob::Kind::Spill) {
      for (Segment *seg : job.segs) {
        seg->writingBack = false;
        spillingBytes_ -= segmentSize_;
      }
      if (ret < 0) {
        if (!spillError_)
          log(LOG_ERROR, "cache",
              "cannot spill to the store (%s: %s): dirty segments stay cached, new dirty data is refused "
              "(ENOSPC) while the cache is full; retrying every second",
              store_.describe().c_str(), strerror(-ret));
        spillError_ = ret;
        spillRetryAt_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      } else {
        if (spillError_) log(LOG_INFO, "cache", "spills to the store succeed again");
        spillError_ = 0;
        stats_.spilledBytes += written;
      }
    } else if (job.drain) {
      drainsInFlight_--;
      if (ret == 0) stats_.drainedBytes += written;
      else log(LOG_WARN, "cache", "write-behind to the store failed: %s (the data stays dirty in the cache)", strerror(-ret));
    } else if (ret == 0) {
      stats_.flushedBytes += written;
    }
  }
  // Created, loaded, written back: an entry left without segments is not needed any more.
  if (job.kind != StoreJob::Kind::Stat) idle_.push_back(obj.id);
  // release() unpins (and frees detached segments, drops spilled clean ones once over the
  // high-water mark); then the next job of the object starts.
  std::vector<Piece> pieces;
  for (Segment *seg : unpin) pieces.push_back({nullptr, 0, nullptr, seg});
  if (!obj.jobs.empty()) startNextJob(obj);
  std::function<void(int)> done = std::move(job.done);
  release(pieces);
  if (job.drain) startDrains();
  if (done) done(ret);
}

void SegmentCache::wantDrain(Object &obj) {
  if (obj.drainQueued) return;
  obj.drainQueued = true;
  drainQueue_.push_back(&obj);
  startDrains();
}

// A drain is a flush without a reply: it writes whatever is dirty in the object when it starts
// (writes that land meanwhile keep their segments dirty and queue the object again).
void SegmentCache::startDrains() {
  // After a failed spill or drain the store is refusing: leave the data for flushes and spills.
  while (drainsInFlight_ < maxDrains_ && !drainQueue_.empty() && !spillError_) {
    Object *obj = drainQueue_.front();
    drainQueue_.pop_front();
    obj->drainQueued = false;
    std::unique_ptr<StoreJob> job(new StoreJob);
    job->kind = StoreJob::Kind::Flush;
    job->drain = true;
    drainsInFlight_++;
    enqueue(*obj, std::move(job));
  }
}

size_t SegmentCache::runCompletions() {
  size_t n = worker_.runCompletions();
  pruneIdle();
  return n;
}

bool SegmentCache::objectBusy(const ObjectId &id) const {
  auto it = objects_.find(id);
  return it != objects_.end() && (it->second.jobRunning || it->second.inPlaceWrites > 0);
}

void SegmentCache::startFlush(const ObjectId &id, uint64_t offset, uint64_t size, std::function<void(int)> done) {
  if (size != 0 && offset + size < offset) return done(-EINVAL);
  Object &obj = entry(id);  // a stat job, if one is needed, runs first
  std::unique_ptr<StoreJob> job(new StoreJob);
  job->kind = StoreJob::Kind::Flush;
  job->offset = offset;
  job->size = size;
  job->done = std::move(done);
  enqueue(obj, std::move(job));
}

int SegmentCache::flushAllBounded(std::chrono::milliseconds timeout) {
  int first = 0;
  for (auto &kv : objects_) {
    bool dirty = false;  // created objects are in the store already (create() writes through)
    for (auto &seg : kv.second.segments) dirty |= seg.second->dirty();
    if (!dirty) continue;
    startFlush(kv.first, 0, 0, [&first](int ret) {
      if (ret < 0 && first == 0) first = ret;
    });
  }
  if (worker_.waitIdle(std::chrono::steady_clock::now() + timeout)) return first;
  // Stuck in the store: say exactly what did not get there.
  uint64_t objects = 0, bytes = 0;
  for (auto &kv : objects_) {
    uint64_t dirty = 0;
    for (auto &seg : kv.second.segments) dirty += seg.second->dirtyEnd - seg.second->dirtyBegin;
    if (!dirty) continue;
    objects++;
    bytes += dirty;
    log(LOG_ERROR, "server", "shutdown: object %llx:%llx: %llu dirty bytes not in the store (%s)",
        (unsigned long long)kv.first.high, (unsigned long long)kv.first.low, (unsigned long long)dirty,
        memory_.durable() ? "kept in the persistent pool" : "LOST");
  }
  log(LOG_ERROR, "server", "shutdown: the store did not finish within %lld ms: %llu objects, %llu dirty bytes %s",
      (long long)timeout.count(), (unsigned long long)objects, (unsigned long long)bytes,
      memory_.durable() ? "stay in the persistent pool (served again at the next start)" : "are lost");
  worker_.abandon();
  return -ETIMEDOUT;
}

void SegmentCache::startCreate(const ObjectId &id, std::function<void(int)> done) {
  Object &obj = entry(id);
  std::unique_ptr<StoreJob> job(new StoreJob);
  job->kind = StoreJob::Kind::Create;
  job->done = std::move(done);
  enqueue(obj, std::move(job));
}

bool SegmentCache::exists(const ObjectId &id) {
  auto it = objects_.find(id);
  if (it != objects_.end() && it->second.statted) return it->second.known;
  return object(id).known;
}

void SegmentCache::dropSegments(Object &obj) {
  while (!obj.segments.empty()) drop(obj.segments.begin()->second);
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
  std::unique_ptr<StoreJob> job(new StoreJob);
  job->kind = StoreJob::Kind::Cow;
  job->cowSrc = src;
  job->cowWhole = size == 0;
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

void SegmentCache::snapshotCow(Object &dst, StoreJob &job) {
  uint64_t from = job.cowWhole ? 0 : job.offset, to = job.cowWhole ? UINT64_MAX : job.offset + job.size;
  auto srcIt = objects_.find(job.cowSrc);
  if (srcIt != objects_.end()) {
    job.cowSrcSize = srcIt->second.size;
    for (auto &kv : srcIt->second.segments) {
      Segment *seg = kv.second;
      uint64_t b, e;
      if (!seg->dirty() || !dirtyPart(seg->offset, seg->dirtyBegin, seg->dirtyEnd, srcIt->second.size, from, to, b, e))
        continue;
      seg->pins++;
      job.cowOverlay.push_back({seg, b, seg->slot.data + (b - seg->offset), (size_t)(e - b), seg->gen});
    }
  }
  if (job.cowWhole) return;  // the destination is replaced: its dirty bytes are obsolete
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

void SegmentCache::cowDone(Object &dst, StoreJob &job, int ret) {
  dst.cowing = false;
  if (ret < 0) {
    log(LOG_WARN, "cache", "cow %llx:%llx -> %llx:%llx failed: %s", (unsigned long long)job.cowSrc.high,
        (unsigned long long)job.cowSrc.low, (unsigned long long)dst.id.high, (unsigned long long)dst.id.low,
        strerror(-ret));
    return;
  }
  // The store holds the result: the destination's cached segments in the range are stale.
  uint64_t from = job.cowWhole ? 0 : job.offset, to = job.cowWhole ? UINT64_MAX : job.offset + job.size;
  std::vector<Segment *> stale;
  for (auto &kv : dst.segments)
    if (kv.second->offset + segmentSize_ > from && kv.second->offset < to) stale.push_back(kv.second);
  for (Segment *seg : stale) {
    markClean(*seg);  // written before the copy, or replaced by it
    drop(seg);
  }
  dst.known = true;
  dst.size = job.cowWhole ? job.cowSrcSize : std::max<uint64_t>(dst.size, to);
}

CacheStats SegmentCache::stats() const {
  CacheStats s = stats_;
  s.objects = objects_.size();
  s.pinned = 0;
  for (Segment *seg : lru_)
    if (seg->pins > 0) s.pinned++;
  s.slotsPerPool = memory_.usedPerPool();
  return s;
}

std::vector<SegmentCache::ObjectInfo> SegmentCache::listObjects() const {
  std::vector<ObjectInfo> out;
  for (const auto &kv : objects_) {
    if (kv.second.segments.empty()) continue;
    ObjectInfo info;
    info.id = kv.first;
    info.size = kv.second.size;
    for (const auto &seg : kv.second.segments) {
      info.segments++;
      info.cachedBytes += segmentSize_;
      info.dirtyBytes += seg.second->dirtyEnd - seg.second->dirtyBegin;
    }
    out.push_back(info);
  }
  return out;
}

std::string SegmentCache::describeStats() const {
  CacheStats s = stats();
  char buf[512];
  snprintf(buf, sizeof buf,
           "cache %llu segments, %llu MiB of %llu MiB (%llu pinned), %llu MiB dirty, hits %llu, misses %llu, "
           "evicted %llu, spilled %llu MiB, flushed %llu MiB, drained %llu MiB, slots per pool [",
           (unsigned long long)s.segments, (unsigned long long)(s.bytes >> 20), (unsigned long long)(s.limitBytes >> 20),
           (unsigned long long)s.pinned, (unsigned long long)(s.dirtyBytes >> 20), (unsigned long long)s.hits,
           (unsigned long long)s.misses, (unsigned long long)s.evictions, (unsigned long long)(s.spilledBytes >> 20),
           (unsigned long long)(s.flushedBytes >> 20), (unsigned long long)(s.drainedBytes >> 20));
  std::string out(buf);
  for (size_t i = 0; i < s.slotsPerPool.size(); i++) out += (i ? "," : "") + std::to_string(s.slotsPerPool[i]);
  return out + "] in " + memory_.describe();
}

}  // namespace server
}  // namespace ioc
