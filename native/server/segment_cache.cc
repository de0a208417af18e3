#include "server/segment_cache.h"
#include "server/segment_cache_job.h"

#include <errno.h>

#include <algorithm>
#include <cassert>
#include <cstring>

#include "server/log.h"

namespace ioc {
namespace server {

SegmentCache::SegmentCache(BackingStore &store, SegmentMemory &memory, const CacheLimits &limits,
                           std::function<void()> wake)
    : store_(store),
      memory_(memory),
      segmentSize_(memory.segmentSize()),
      limit_(limits.cacheSize),
      highWater_((uint64_t)(limits.cacheSize * limits.highWater)),
      lowWater_((uint64_t)(limits.cacheSize * limits.lowWater)),
      slowStoreWarn_(limits.slowStoreWarn),
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
  if (found >= 0) obj.inStore.learn(found > 0, size);
  return obj;
}

// Ids the store did not hold when their entries were pruned (at most ABSENT_KEPT, oldest
// forgotten first): reading them again needs no stat job (a read of an absent object would
// otherwise wait for a store thread every time).
static constexpr size_t ABSENT_KEPT = 4096;

void SegmentCache::rememberAbsent(const ObjectId &id, bool absent) {
  if (!absent) {
    absent_.erase(id);
    return;
  }
  if (!absent_.insert(id).second) return;
  absentOrder_.push_back(id);
  while (absentOrder_.size() > ABSENT_KEPT) {
    absent_.erase(absentOrder_.front());
    absentOrder_.pop_front();
  }
}

SegmentCache::Object &SegmentCache::entry(const ObjectId &id, bool queueStat) {
  auto it = objects_.find(id);
  if (it != objects_.end()) return it->second;
  Object &obj = objects_[id];
  obj.id = id;
  if (absent_.count(id)) {
    obj.statted = true;  // absent when last asked; a write or create here makes it known
    obj.inStore.learn(false, 0);
    return obj;
  }
  if (!queueStat) return obj;
  enqueue(obj, std::unique_ptr<StoreJob>(new LookupJob));
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
  if (obj.unheld()) objects_.erase(obj.id);
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
    // before it is dropped); jobs, in-place writes, the drain queue and cows reading it hold it.
    if (obj.unheld() && (obj.statted || obj.statError)) {
      rememberAbsent(id, obj.statted && !obj.known && obj.size == 0);
      objects_.erase(it);
    }
  }
}

const char *SegmentCache::fillName(Fill f) {
  switch (f) {
    case Fill::Loading: return "loading";
    case Fill::LoadFailed: return "load failed";
    case Fill::Unloaded: return "unloaded";
    case Fill::Loaded: return "loaded";
    case Fill::Detached: return "detached";
  }
  return "?";
}

void SegmentCache::Segment::moveTo(Fill to) {
  if (to == fill && to != Fill::Detached) return;  // already so (e.g. a failed write into an unloaded slot)
  bool ok = false;
  switch (fill) {
    case Fill::Loading: ok = to == Fill::Loaded || to == Fill::LoadFailed || to == Fill::Detached; break;
    case Fill::LoadFailed: ok = to == Fill::Detached; break;
    case Fill::Unloaded: ok = to == Fill::Loaded || to == Fill::Detached; break;
    case Fill::Loaded: ok = to == Fill::Unloaded || to == Fill::Detached; break;
    case Fill::Detached: ok = false; break;
  }
  if (!ok) {
    log(LOG_ERROR, "cache", "segment %s +%llu: %s -> %s is not a transition (a bug; the state is left as it was)",
        objectLabel(id).c_str(), (unsigned long long)offset, fillName(fill), fillName(to));
    assert(!"segment state transition");
    return;
  }
  fill = to;
}

int SegmentCache::segment(const ObjectId &id, Object &obj, uint64_t segOffset, uint64_t inSeg, uint64_t len,
                          bool fullOverwrite, bool write, Segment *&out) {
  auto it = obj.segments.find(segOffset);
  if (it != obj.segments.end()) {
    Segment *seg = it->second;
    if (seg->loading()) return kBusy;
    // An in-place write holds only its range: the rest of the segment is served. With durable
    // memory a write waits for the whole segment (a slot's record names one dirty range, which
    // must never span bytes in flight).
    if (seg->inPlace() && (seg->overlapsHeld(inSeg, inSeg + len) || (write && memory_.durable()))) return kBusy;
    if (seg->fill == Fill::LoadFailed) {
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
  // Pages are faulted in now when they will be written (a write, or a load from the store);
  // zeros read from an absent object map the zero page instead.
  bool filled = write || (!fullOverwrite && segOffset < obj.size);
  int got = memory_.allocate(slot, filled, fullOverwrite);
  if (got == -ENOSPC) {
    // The pool's filesystem is full: dropped segments give their blocks back. A quarter first,
    // so that the next misses find room too.
    evict(stats_.bytes - stats_.bytes / 4);
    got = memory_.allocate(slot, filled, fullOverwrite);
  }
  if (got < 0) {
    // Every slot taken (the pool only has room beyond the cache size for pinned segments), or
    // still no room in the pool's filesystem.
    evict(0);
    got = memory_.allocate(slot, filled, fullOverwrite);
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
  // A slot for a full overwrite may hold a dropped segment's bytes (recycled memory is not
  // zeroed for it): it is valid only once the overwrite is committed, dropped otherwise.
  seg->fill = fullOverwrite ? Fill::Unloaded : Fill::Loaded;  // its first state
  seg->lru = lru_.insert(lru_.end(), seg);
  obj.segments[segOffset] = seg;
  stats_.segments++;
  stats_.bytes += segmentSize_;
  // Fresh slots read as zeros: only data the store holds needs loading.
  if (!fullOverwrite && segOffset < obj.size) {
    size_t len = std::min<uint64_t>(segmentSize_, obj.size - segOffset);
    seg->fill = Fill::Loading;  // its first state: nothing saw it Loaded
    seg->pins++;  // the load job's
    enqueue(obj, std::unique_ptr<StoreJob>(new LoadJob(seg, len)));
    return kBusy;
  }
  out = seg;
  return 0;
}

int SegmentCache::access(const ObjectId &id, uint64_t offset, uint64_t size, bool write, std::vector<Piece> &out) {
  pruneIdle();
  out.clear();
  if (offset + size < offset) return -EINVAL;
  memory_.noteUse();
  Object *o = nullptr;
  if (int ret = lookup(id, o)) return ret;
  Object &obj = *o;
  if (obj.cowing || obj.deleting) return kBusy;
  uint64_t end = offset + size;
  bool busy = false;
  for (uint64_t pos = offset; pos < end;) {
    uint64_t segOffset = pos - pos % segmentSize_;
    uint64_t inSeg = pos - segOffset;
    size_t len = std::min<uint64_t>(segmentSize_ - inSeg, end - pos);
    Segment *seg = nullptr;
    int ret = segment(id, obj, segOffset, inSeg, len, write && inSeg == 0 && len == segmentSize_, write, seg);
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
  for (const Piece &p : out) static_cast<Segment *>(p.segment)->awaitingReader = false;
  return 0;
}

int SegmentCache::commit(const std::vector<Piece> &pieces) {
  for (const Piece &p : pieces) {
    Segment *seg = static_cast<Segment *>(p.segment);
    if (!seg || seg->detached()) continue;  // detached: the object was replaced meanwhile
    uint32_t b = (uint32_t)(p.ptr - seg->slot.data), e = (uint32_t)(b + p.len);
    uint32_t ob = seg->dirtyBegin, oe = seg->dirtyEnd;
    bool wasDirty = seg->dirty();
    seg->gen++;
    seg->dirtiedAt = lastCommitAt_ = std::chrono::steady_clock::now();
    seg->dirtyBegin = wasDirty ? std::min(ob, b) : b;
    seg->dirtyEnd = wasDirty ? std::max(oe, e) : e;
    stats_.dirtyBytes += (seg->dirtyEnd - seg->dirtyBegin) - (oe - ob);
    if (b == 0 && e == segmentSize_ && seg->unloaded()) seg->moveTo(Fill::Loaded);  // a partial write loads nothing else
    seg->obj->known = true;
    seg->obj->size = std::max<uint64_t>(seg->obj->size, seg->offset + e);
    if (writeBehind_) wantDrain(*seg->obj);
    if (!memory_.durable()) continue;
    // Data first (the written bytes, and any loaded bytes the dirty range now spans), then the
    // record: a record never names bytes that are not durable.
    // Batched: the writes acknowledged together share the flushes (persistBatch).
    batchData_.push_back({seg->slot, b, e - b});
    if (wasDirty && e < ob) batchData_.push_back({seg->slot, e, ob - e});
    if (wasDirty && oe < b) batchData_.push_back({seg->slot, oe, b - oe});
    if ((!wasDirty || seg->dirtyBegin != ob || seg->dirtyEnd != oe) && !seg->inBatch) {
      seg->inBatch = true;
      seg->pins++;  // its slot stays its own until the record is written
      batchSegs_.push_back(seg);
    }
  }
  return 0;
}

void SegmentCache::persistBatch() {
  std::vector<std::pair<SegmentSlot, SegmentRecord>> records;
  for (Segment *seg : batchSegs_) {
    seg->inBatch = false;
    // The record names the dirty range as it is now (every byte of it is in the batch's data
    // or persisted earlier); a segment cleaned or dropped meanwhile needs none.
    if (!seg->detached() && seg->dirty())
      records.push_back({seg->slot, SegmentRecord{seg->id, seg->offset, seg->dirtyBegin, seg->dirtyEnd}});
  }
  memory_.persistBatch(batchData_, records);
  batchData_.clear();
  std::vector<Piece> unpin;
  for (Segment *seg : batchSegs_) unpin.push_back({nullptr, 0, nullptr, seg});
  batchSegs_.clear();
  release(unpin);
}

void SegmentCache::release(std::vector<Piece> &pieces) {
  for (Piece &p : pieces) {
    Segment *seg = static_cast<Segment *>(p.segment);
    if (!seg) continue;
    p.segment = nullptr;
    seg->pins--;
    if (seg->detached()) {
      if (seg->pins == 0) {
        memory_.release(seg->slot);
        delete seg;
      }
      continue;
    }
    if (seg->unloaded() && seg->pins == 0) {
      // A full overwrite skipped loading, then never arrived (or an in-place write failed): the
      // slot does not hold the object, and no request in flight will fill it any more.
      if (!seg->dirty()) {
        drop(seg);
        continue;
      }
      // Zeros around the dirty bytes first (past the object's end they stay so), then the
      // store's bytes where it has some.
      memset(seg->slot.data, 0, seg->dirtyBegin);
      memset(seg->slot.data + seg->dirtyEnd, 0, segmentSize_ - seg->dirtyEnd);
      int ret = reloadClean(store_, seg->id, seg->obj->size, seg->offset, seg->slot.data, segmentSize_,
                            seg->dirtyBegin, seg->dirtyEnd);
      if (ret < 0) log(LOG_WARN, "cache", "cannot reload a segment after a failed write: %s", strerror(-ret));
      seg->moveTo(Fill::Loaded);
    }
    // Read of an object nobody created or wrote: the segment is zeros, not worth a slot (reads
    // of absent objects would otherwise push real data out of the cache).
    if (seg->idle() && !seg->obj->known && !seg->dirty())
      drop(seg);
  }
  progress_++;  // unpinned segments may be evicted now, making room for a waiting request
  // A large request may have pinned the cache past its high-water mark: shrink back now.
  if (stats_.bytes > highWater_) evict(lowWater_);
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
    seg->moveTo(Fill::Detached);
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
  auto now = std::chrono::steady_clock::now();
  for (Segment *seg : lru_) {
    if (projected <= target) break;
    if (seg->pins > 0 || seg->loading() || seg->inPlace()) continue;
    if (seg->awaitingReader && now - seg->loadedAt < AWAIT_READER) continue;
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
    std::unique_ptr<WriteBackJob> job(new WriteBackJob(WriteBackJob::Why::Spill));
    for (Segment *seg : kv.second) {
      seg->pins++;
      seg->writingBack = true;
      spillingBytes_ += segmentSize_;
    }
    job->segs = std::move(kv.second);
    enqueue(*kv.first, std::move(job));
  }
}

bool SegmentCache::exists(const ObjectId &id) {
  auto it = objects_.find(id);
  if (it != objects_.end() && it->second.statted) return it->second.known;
  return object(id).known;
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
