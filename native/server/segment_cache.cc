#include "server/segment_cache.h"

#include <errno.h>

#include <algorithm>
#include <cstring>

namespace ioc {
namespace server {

SegmentCache::SegmentCache(BackingStore &store, SegmentMemory &memory, size_t segmentSize)
    : store_(store), memory_(memory), segmentSize_(segmentSize) {}

SegmentCache::~SegmentCache() {
  for (auto &kv : objects_) dropSegments(kv.second);
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

int SegmentCache::segment(const ObjectId &id, Object &obj, uint64_t segOffset, bool fullOverwrite, Segment *&out) {
  auto it = obj.segments.find(segOffset);
  if (it != obj.segments.end()) {
    stats_.hits++;
    out = &it->second;
    return 0;
  }
  stats_.misses++;
  Segment seg;
  seg.offset = segOffset;
  seg.data = memory_.allocate(segmentSize_, &seg.desc);
  if (!seg.data) return -ENOMEM;
  // Fresh memory reads as zeros: only data the store holds needs loading.
  if (!fullOverwrite && segOffset < obj.size) {
    size_t len = std::min<uint64_t>(segmentSize_, obj.size - segOffset);
    ssize_t ret = store_.read(id, segOffset, seg.data, len);
    if (ret < 0) {
      memory_.release(seg.data, segmentSize_);
      return (int)ret;
    }
  }
  stats_.segments++;
  stats_.bytes += segmentSize_;
  out = &(obj.segments[segOffset] = seg);
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
    if (ret < 0) return ret;
    if (write) {
      uint64_t b = inSeg, e = inSeg + len;
      if (!seg->dirty()) {
        seg->dirtyBegin = b;
        seg->dirtyEnd = e;
        stats_.dirtyBytes += e - b;
      } else {
        uint64_t before = seg->dirtyEnd - seg->dirtyBegin;
        seg->dirtyBegin = std::min(seg->dirtyBegin, b);
        seg->dirtyEnd = std::max(seg->dirtyEnd, e);
        stats_.dirtyBytes += (seg->dirtyEnd - seg->dirtyBegin) - before;
      }
    }
    out.push_back({seg->data + inSeg, len, seg->desc});
    pos += len;
  }
  if (write) {
    obj.known = true;
    obj.size = std::max(obj.size, end);
  }
  return 0;
}

int SegmentCache::writeBack(const ObjectId &id, Object &obj, Segment &seg) {
  if (!seg.dirty()) return 0;
  // Never extend the stored object past its logical size with a segment's zero tail.
  uint64_t end = std::min<uint64_t>(seg.dirtyEnd, obj.size - std::min(obj.size, seg.offset));
  if (end > seg.dirtyBegin) {
    ssize_t ret = store_.write(id, seg.offset + seg.dirtyBegin, seg.data + seg.dirtyBegin, end - seg.dirtyBegin);
    if (ret < 0) return (int)ret;
    stats_.flushedBytes += end - seg.dirtyBegin;
  }
  stats_.dirtyBytes -= seg.dirtyEnd - seg.dirtyBegin;
  seg.dirtyBegin = seg.dirtyEnd = 0;
  return 0;
}

int SegmentCache::flush(const ObjectId &id, uint64_t offset, uint64_t size) {
  auto it = objects_.find(id);
  if (it == objects_.end()) return store_.sync(id);
  Object &obj = it->second;
  uint64_t end = size == 0 ? UINT64_MAX : offset + size;
  if (end < offset) return -EINVAL;
  bool wrote = false;
  for (auto &kv : obj.segments) {
    Segment &seg = kv.second;
    if (seg.offset + segmentSize_ <= offset || seg.offset >= end || !seg.dirty()) continue;
    int ret = writeBack(id, obj, seg);
    if (ret < 0) return ret;
    wrote = true;
  }
  if (obj.known && !store_.exists(id)) {
    int ret = store_.create(id);  // created-but-empty objects persist too
    if (ret < 0) return ret;
  }
  (void)wrote;
  return store_.sync(id);
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
  for (auto &kv : obj.segments) {
    stats_.dirtyBytes -= kv.second.dirtyEnd - kv.second.dirtyBegin;
    stats_.segments--;
    stats_.bytes -= segmentSize_;
    memory_.release(kv.second.data, segmentSize_);
  }
  obj.segments.clear();
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
    for (auto &kv : s.segments) {
      const Segment &seg = kv.second;
      if (!seg.dirty()) continue;
      std::vector<Piece> pieces;
      ret = access(dst, seg.offset + seg.dirtyBegin, seg.dirtyEnd - seg.dirtyBegin, true, pieces);
      if (ret < 0) return ret;
      const char *from = seg.data + seg.dirtyBegin;
      for (const Piece &p : pieces) {
        memcpy(p.ptr, from, p.len);
        from += p.len;
      }
    }
    object(dst).size = s.size;
    return 0;
  }
  // A range: copy through the cache one segment-sized chunk at a time, loading as needed.
  for (uint64_t pos = offset; pos < offset + size;) {
    uint64_t len = std::min<uint64_t>(segmentSize_ - pos % segmentSize_, offset + size - pos);
    std::vector<Piece> from, to;
    int ret = access(src, pos, len, false, from);
    if (ret < 0) return ret;
    ret = access(dst, pos, len, true, to);
    if (ret < 0) return ret;
    memcpy(to[0].ptr, from[0].ptr, len);  // one segment each: both are segment-aligned chunks
    pos += len;
  }
  return 0;
}

CacheStats SegmentCache::stats() const { return stats_; }

}  // namespace server
}  // namespace ioc
