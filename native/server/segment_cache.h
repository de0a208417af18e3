// The server's object cache: each object is a set of fixed-size, aligned segments held in
// memory, loaded from the backing store on first access and written back on flush.
// Single-threaded: only the fabric thread calls it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "server/backing_store.h"

namespace ioc {
namespace server {

// Where segment memory comes from; lets the transport register it once per allocation.
class SegmentMemory {
 public:
  virtual ~SegmentMemory() = default;
  virtual char *allocate(size_t size, void **desc) = 0;
  virtual void release(char *ptr, size_t size) = 0;
};

// A contiguous piece of cached memory backing part of a request.
struct Piece {
  char *ptr;
  size_t len;
  void *desc;  // libfabric memory descriptor (nullptr when the provider needs none)
};

struct CacheStats {
  uint64_t segments = 0, bytes = 0, dirtyBytes = 0, hits = 0, misses = 0, flushedBytes = 0;
};

class SegmentCache {
 public:
  SegmentCache(BackingStore &store, SegmentMemory &memory, size_t segmentSize);
  ~SegmentCache();

  // Pieces covering [offset, offset+size) in order, loading missing segments. write=true
  // marks the range dirty (the caller fills the pieces). 0 or a negative errno.
  int access(const ObjectId &id, uint64_t offset, uint64_t size, bool write, std::vector<Piece> &out);
  // Write back the dirty bytes overlapping the range (size 0: whole object), then sync.
  int flush(const ObjectId &id, uint64_t offset, uint64_t size);
  int flushAll();
  int create(const ObjectId &id);
  bool exists(const ObjectId &id);
  // Copy-on-write copy of the whole object (size 0) or of a range, loaded or not.
  int cow(const ObjectId &src, const ObjectId &dst, bool allowExist, uint64_t offset, uint64_t size);
  CacheStats stats() const;
  size_t segmentSize() const { return segmentSize_; }

 private:
  struct Segment {
    uint64_t offset = 0;
    char *data = nullptr;
    void *desc = nullptr;
    uint64_t dirtyBegin = 0, dirtyEnd = 0;  // dirty byte range within the segment (empty: clean)
    bool dirty() const { return dirtyEnd > dirtyBegin; }
  };
  struct Object {
    std::map<uint64_t, Segment> segments;  // by segment offset
    uint64_t size = 0;                     // logical size: max(stored size, end of writes)
    bool known = false;                    // created, written, or found in the store
  };
  Object &object(const ObjectId &id);
  // The segment at segOffset, loaded from the store unless the caller overwrites all of it.
  int segment(const ObjectId &id, Object &obj, uint64_t segOffset, bool fullOverwrite, Segment *&out);
  int writeBack(const ObjectId &id, Object &obj, Segment &seg);
  void dropSegments(Object &obj);

  BackingStore &store_;
  SegmentMemory &memory_;
  size_t segmentSize_;
  std::map<ObjectId, Object> objects_;
  mutable CacheStats stats_;
};

}  // namespace server
}  // namespace ioc
