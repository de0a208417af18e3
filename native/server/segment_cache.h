// The server's object cache: each object is a set of fixed-size, aligned segments held in slots
// of a SegmentMemory, loaded from the backing store on first access and written back on flush.
// The cache is bounded: above the high-water mark it spills (dirty segments are written back)
// and drops the least recently used segments until the low-water mark; segments in use by an
// in-flight request are pinned and never dropped. With persistent memory, an acknowledged write
// is durable in the pool (data, then a checksummed record) and recovered at the next start.
// Single-threaded: only the fabric thread calls it.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "server/backing_store.h"
#include "server/segment_memory.h"

namespace ioc {
namespace server {

// A contiguous piece of cached memory backing part of a request.
struct Piece {
  char *ptr;
  size_t len;
  void *desc;              // libfabric memory descriptor (nullptr when the provider needs none)
  void *segment = nullptr; // the cache's segment (pinned), nullptr for memory outside the cache
};

struct CacheStats {
  uint64_t segments = 0, bytes = 0, dirtyBytes = 0, pinned = 0, hits = 0, misses = 0;
  uint64_t flushedBytes = 0;  // written back by flush
  uint64_t spilledBytes = 0;  // written back by eviction
  uint64_t evictions = 0;     // segments dropped to make room
  uint64_t limitBytes = 0;
  std::vector<size_t> slotsPerPool;
};

struct CacheLimits {
  uint64_t cacheSize;    // bytes of segments the cache aims to hold at most
  double highWater = 0.9, lowWater = 0.7;  // fractions of cacheSize
};

class SegmentCache {
 public:
  // Recovers the dirty segments a durable memory kept from a previous run.
  SegmentCache(BackingStore &store, SegmentMemory &memory, const CacheLimits &limits);
  ~SegmentCache();

  // Pieces covering [offset, offset+size) in order, loading missing segments; every piece's
  // segment is pinned until release(). For a write, fill the pieces then commit() them.
  // 0 or a negative errno (then nothing stays pinned).
  int access(const ObjectId &id, uint64_t offset, uint64_t size, bool write, std::vector<Piece> &out);
  // The pieces of a write are filled: mark them dirty and, with durable memory, persist the data
  // and the segment's record. Call before acknowledging the write.
  int commit(const std::vector<Piece> &pieces);
  // Unpin. A segment whose slot does not hold the stored bytes (a full overwrite that never
  // arrived, an in-place write that failed) is repaired once nothing pins it: dropped when clean,
  // else its clean part reloaded.
  void release(std::vector<Piece> &pieces);
  // Whether a large write may land directly in the pieces' slots instead of a staging buffer:
  // no piece holds bytes that exist only here (every segment clean) and no other request pins
  // them, so a transfer that fails halfway loses nothing: abandonInPlace() below puts the
  // segments back to what the store holds. Saves the copy out of staging (8 MiB: ~1.4 ms here).
  bool writableInPlace(const std::vector<Piece> &pieces) const;
  // An in-place write failed or was abandoned: its slots may hold part of the new bytes.
  void abandonInPlace(const std::vector<Piece> &pieces);
  // Write back the dirty bytes overlapping the range (size 0: whole object), then sync.
  int flush(const ObjectId &id, uint64_t offset, uint64_t size);
  int flushAll();
  int create(const ObjectId &id);
  bool exists(const ObjectId &id);
  // Copy-on-write copy of the whole object (size 0) or of a range, loaded or not.
  int cow(const ObjectId &src, const ObjectId &dst, bool allowExist, uint64_t offset, uint64_t size);
  CacheStats stats() const;
  std::string describeStats() const;
  // Objects holding cached segments (for `iocatcher ls`).
  struct ObjectInfo {
    ObjectId id;
    uint64_t size = 0, segments = 0, cachedBytes = 0, dirtyBytes = 0;
  };
  std::vector<ObjectInfo> listObjects() const;
  size_t segmentSize() const { return segmentSize_; }

 private:
  struct Object;
  struct Segment {
    ObjectId id;
    Object *obj = nullptr;
    uint64_t offset = 0;
    SegmentSlot slot;
    uint32_t dirtyBegin = 0, dirtyEnd = 0;  // dirty byte range within the segment (empty: clean)
    int pins = 0;
    bool unloaded = false;  // allocated for a full overwrite: holds no store data until committed
    bool detached = false;  // dropped while pinned: freed by the last release
    std::list<Segment *>::iterator lru;
    bool dirty() const { return dirtyEnd > dirtyBegin; }
  };
  struct Object {
    std::map<uint64_t, Segment *> segments;  // by segment offset
    uint64_t size = 0;                       // logical size: max(stored size, end of writes)
    bool known = false;                      // created, written, or found in the store
  };
  Object &object(const ObjectId &id);
  // The segment at segOffset, loaded from the store unless the caller overwrites all of it.
  int segment(const ObjectId &id, Object &obj, uint64_t segOffset, bool fullOverwrite, Segment *&out);
  // Spill and drop unpinned segments, oldest first, until at most `target` bytes are cached.
  void evict(uint64_t target);
  int writeBack(Segment &seg);
  void markClean(Segment &seg);
  void drop(Segment *seg);
  void dropSegments(Object &obj);
  void recover();
  // Copy len bytes (within one segment of each) through the cache.
  int copyThrough(const ObjectId &src, const ObjectId &dst, uint64_t pos, uint64_t len);

  BackingStore &store_;
  SegmentMemory &memory_;
  size_t segmentSize_;
  uint64_t highWater_, lowWater_;
  std::map<ObjectId, Object> objects_;
  std::list<Segment *> lru_;  // least recently used first
  mutable CacheStats stats_;
};

}  // namespace server
}  // namespace ioc
