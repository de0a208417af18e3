#include "server/segment_cache.h"

#include <errno.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "server/log.h"

namespace ioc {
namespace server {

SegmentCache::SegmentCache(BackingStore &store, SegmentMemory &memory, const CacheLimits &limits)
    : store_(store),
      memory_(memory),
      segmentSize_(memory.segmentSize()),
      highWater_((uint64_t)(limits.cacheSize * limits.highWater)),
      lowWater_((uint64_t)(limits.cacheSize * limits.lowWater)) {
  stats_.limitBytes = limits.cacheSize;
  recover();
}

SegmentCache::~SegmentCache() {
  // Slots are not released: a durable pool keeps the records of whatever is still dirty.
  for (Segment *seg : lru_) delete seg;
}

SegmentCache::Object &SegmentCache::object(const ObjectId &id) {
  auto it = objects_.find(id);
  if (it != objects_.end()) return it->second;
  Object &obj = objects_[id];
  if (store_.exists(id)) {
    obj.known = true;
    obj.size = store_.size(id);
  }
  return obj;
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

int SegmentCache::segment(const ObjectId &id, Object &obj, uint64_t segOffset, bool fullOverwrite, Segment *&out) {
  auto it = obj.segments.find(segOffset);
  if (it != obj.segments.end()) {
    stats_.hits++;
    out = it->second;
    lru_.splice(lru_.end(), lru_, out->lru);
    return 0;
  }
  stats_.misses++;
  if (stats_.bytes + segmentSize_ > highWater_) evict(lowWater_);
  SegmentSlot slot;
  if (!memory_.allocate(slot)) {
    evict(0);  // every slot taken: the pool only has room beyond the cache size for pinned segments
    if (!memory_.allocate(slot)) {
      log(LOG_ERROR, "cache", "no free segment slot (%llu segments pinned by requests in flight)",
          (unsigned long long)stats().pinned);
      return -ENOMEM;
    }
  }
  // Fresh slots read as zeros: only data the store holds needs loading.
  if (!fullOverwrite && segOffset < obj.size) {
    size_t len = std::min<uint64_t>(segmentSize_, obj.size - segOffset);
    ssize_t ret = store_.read(id, segOffset, slot.data, len);
    if (ret < 0) {
      memory_.release(slot);
      return (int)ret;
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
  out = seg;
  return 0;
}

int SegmentCache::access(const ObjectId &id, uint64_t offset, uint64_t size, bool write, std::vector<Piece> &out) {
  out.clear();
  if (offset + size < offset) return -EINVAL;
  Object &obj = object(id);
  uint64_t end = offset + size;
  for (uint64_t pos = offset; pos < end;) {
    uint64_t segOffset = pos - pos % segmentSize_;
    uint64_t inSeg = pos - segOffset;
    size_t len = std::min<uint64_t>(segmentSize_ - inSeg, end - pos);
    Segment *seg = nullptr;
    int ret = segment(id, obj, segOffset, write && inSeg == 0 && len == segmentSize_, seg);
    if (ret < 0) {
      release(out);
      return ret;
    }
    seg->pins++;  // before the next segment() call, which may evict
    out.push_back({seg->slot.data + inSeg, len, seg->slot.desc, seg});
    pos += len;
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
    seg->dirtyBegin = wasDirty ? std::min(ob, b) : b;
    seg->dirtyEnd = wasDirty ? std::max(oe, e) : e;
    stats_.dirtyBytes += (seg->dirtyEnd - seg->dirtyBegin) - (oe - ob);
    if (b == 0 && e == segmentSize_) seg->unloaded = false;  // a partial write loads nothing else
    seg->obj->known = true;
    seg->obj->size = std::max<uint64_t>(seg->obj->size, seg->offset + e);
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
  }
  // A large request may have pinned the cache past its high-water mark: shrink back now.
  if (stats_.bytes > highWater_) evict(lowWater_);
}

bool SegmentCache::writableInPlace(const std::vector<Piece> &pieces) const {
  for (const Piece &p : pieces) {
    const Segment *seg = static_cast<const Segment *>(p.segment);
    if (!seg || seg->detached || seg->dirty() || seg->pins != 1) return false;
  }
  return !pieces.empty();
}

void SegmentCache::abandonInPlace(const std::vector<Piece> &pieces) {
  log(LOG_INFO, "cache", "an in-place write of %zu segment(s) did not complete: the stored bytes are put back",
      pieces.size());
  for (const Piece &p : pieces) {
    Segment *seg = static_cast<Segment *>(p.segment);
    if (!seg || seg->detached || seg->unloaded) continue;  // unloaded: release() repairs it
    if (seg->pins == 1) {
      seg->unloaded = true;  // ours alone: release() drops or reloads it
      continue;
    }
    // Others hold it too (they raced this write): put the stored bytes back now.
    int ret = reloadClean(store_, seg->id, seg->obj->size, seg->offset, seg->slot.data, segmentSize_,
                          seg->dirtyBegin, seg->dirtyEnd);
    if (ret < 0) {
      log(LOG_WARN, "cache", "cannot reload a segment after a failed write: %s", strerror(-ret));
      seg->unloaded = true;
    }
  }
}

int SegmentCache::writeBack(Segment &seg) {
  if (!seg.dirty()) return 0;
  // Never extend the stored object past its logical size with a segment's zero tail.
  uint64_t size = seg.obj->size;
  uint64_t end = std::min<uint64_t>(seg.dirtyEnd, size - std::min(size, seg.offset));
  if (end <= seg.dirtyBegin) return 0;
  ssize_t ret = store_.write(seg.id, seg.offset + seg.dirtyBegin, seg.slot.data + seg.dirtyBegin, end - seg.dirtyBegin);
  return ret < 0 ? (int)ret : (int)std::min<uint64_t>(end - seg.dirtyBegin, INT32_MAX);
}

void SegmentCache::markClean(Segment &seg) {
  if (!seg.dirty()) return;
  stats_.dirtyBytes -= seg.dirtyEnd - seg.dirtyBegin;
  seg.dirtyBegin = seg.dirtyEnd = 0;
  memory_.clearRecord(seg.slot);
}

void SegmentCache::drop(Segment *seg) {
  seg->obj->segments.erase(seg->offset);
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
  if (stats_.bytes <= target) return;
  std::vector<Segment *> victims;
  uint64_t projected = stats_.bytes;
  for (Segment *seg : lru_) {
    if (projected <= target) break;
    if (seg->pins > 0) continue;
    victims.push_back(seg);
    projected -= segmentSize_;
  }
  // Spill the dirty ones; with a durable pool, the store is synced before their records go.
  std::set<ObjectId> spilled, failed;
  for (Segment *seg : victims) {
    if (!seg->dirty()) continue;
    int ret = writeBack(*seg);
    if (ret < 0) {
      failed.insert(seg->id);
      log(LOG_WARN, "cache", "cannot spill a segment to the store: %s (kept in the cache)", strerror(-ret));
      continue;
    }
    stats_.spilledBytes += ret;
    spilled.insert(seg->id);
  }
  if (memory_.durable()) {
    for (const ObjectId &id : spilled) {
      int ret = store_.sync(id);
      if (ret < 0) {
        failed.insert(id);
        log(LOG_WARN, "cache", "cannot sync a spilled object: %s (its segments stay cached)", strerror(-ret));
      }
    }
  }
  for (Segment *seg : victims) {
    if (seg->dirty() && failed.count(seg->id)) continue;
    markClean(*seg);
    drop(seg);
    stats_.evictions++;
  }
}

int SegmentCache::flush(const ObjectId &id, uint64_t offset, uint64_t size) {
  auto it = objects_.find(id);
  if (it == objects_.end()) return store_.sync(id);
  Object &obj = it->second;
  uint64_t end = size == 0 ? UINT64_MAX : offset + size;
  if (end < offset) return -EINVAL;
  std::vector<Segment *> written;
  for (auto &kv : obj.segments) {
    Segment &seg = *kv.second;
    if (seg.offset + segmentSize_ <= offset || seg.offset >= end || !seg.dirty()) continue;
    int ret = writeBack(seg);
    if (ret < 0) return ret;
    stats_.flushedBytes += ret;
    written.push_back(&seg);
  }
  if (obj.known && !store_.exists(id)) {
    int ret = store_.create(id);  // created-but-empty objects persist too
    if (ret < 0) return ret;
  }
  int ret = store_.sync(id);
  if (ret < 0) return ret;
  for (Segment *seg : written) markClean(*seg);  // only once the store holds the data durably
  return 0;
}

int SegmentCache::flushAll() {
  int first = 0;
  for (auto &kv : objects_) {
    int ret = flush(kv.first, 0, 0);
    if (ret < 0 && first == 0) first = ret;
  }
  return first;
}

int SegmentCache::create(const ObjectId &id) {
  Object &obj = object(id);
  obj.known = true;
  return store_.create(id);
}

bool SegmentCache::exists(const ObjectId &id) {
  auto it = objects_.find(id);
  if (it != objects_.end() && it->second.known) return true;
  return store_.exists(id);
}

void SegmentCache::dropSegments(Object &obj) {
  while (!obj.segments.empty()) drop(obj.segments.begin()->second);
}

int SegmentCache::copyThrough(const ObjectId &src, const ObjectId &dst, uint64_t pos, uint64_t len) {
  std::vector<Piece> from, to;
  int ret = access(src, pos, len, false, from);
  if (ret < 0) return ret;
  ret = access(dst, pos, len, true, to);  // may evict, but never the pinned source
  if (ret < 0) {
    release(from);
    return ret;
  }
  memcpy(to[0].ptr, from[0].ptr, len);  // one segment each: callers pass chunks within a segment
  ret = commit(to);
  release(from);
  release(to);
  return ret;
}

int SegmentCache::cow(const ObjectId &src, const ObjectId &dst, bool allowExist, uint64_t offset, uint64_t size) {
  if (src == dst) return -EINVAL;
  if (!exists(src)) return -ENOENT;
  if (!allowExist && exists(dst)) return -EEXIST;
  if (offset + size < offset) return -EINVAL;
  Object &s = object(src);
  if (size == 0) {
    // Whole object: the store copies what it holds, then dirty cached segments overlay it.
    Object &d = object(dst);
    dropSegments(d);
    int ret = store_.copy(src, dst);
    if (ret < 0) return ret;
    d.known = true;
    d.size = s.size;
    std::vector<std::pair<uint64_t, uint64_t>> ranges;  // collected first: copying may evict
    for (auto &kv : s.segments)
      if (kv.second->dirty()) ranges.emplace_back(kv.second->offset + kv.second->dirtyBegin,
                                                  kv.second->dirtyEnd - kv.second->dirtyBegin);
    for (auto &r : ranges) {
      ret = copyThrough(src, dst, r.first, r.second);
      if (ret < 0) return ret;
    }
    d.size = std::max(d.size, s.size);
    return memory_.durable() ? store_.sync(dst) : 0;
  }
  // A range, one segment-sized chunk at a time: through the store when neither side has the
  // segment cached (no cache pollution), else through the cache.
  Object &d = object(dst);
  bool storeCopied = false;
  for (uint64_t pos = offset; pos < offset + size;) {
    uint64_t segOffset = pos - pos % segmentSize_;
    uint64_t len = std::min<uint64_t>(segmentSize_ - (pos - segOffset), offset + size - pos);
    int ret;
    if (!s.segments.count(segOffset) && !d.segments.count(segOffset)) {
      ret = store_.copyRange(src, dst, pos, len);
      d.known = true;
      d.size = std::max(d.size, pos + len);
      storeCopied = true;
    } else {
      ret = copyThrough(src, dst, pos, len);
    }
    if (ret < 0) return ret;
    pos += len;
  }
  return storeCopied && memory_.durable() ? store_.sync(dst) : 0;
}

CacheStats SegmentCache::stats() const {
  CacheStats s = stats_;
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
           "evicted %llu, spilled %llu MiB, flushed %llu MiB, slots per pool [",
           (unsigned long long)s.segments, (unsigned long long)(s.bytes >> 20), (unsigned long long)(s.limitBytes >> 20),
           (unsigned long long)s.pinned, (unsigned long long)(s.dirtyBytes >> 20), (unsigned long long)s.hits,
           (unsigned long long)s.misses, (unsigned long long)s.evictions, (unsigned long long)(s.spilledBytes >> 20),
           (unsigned long long)(s.flushedBytes >> 20));
  std::string out(buf);
  for (size_t i = 0; i < s.slotsPerPool.size(); i++) out += (i ? "," : "") + std::to_string(s.slotsPerPool[i]);
  return out + "] in " + memory_.describe();
}

}  // namespace server
}  // namespace ioc
