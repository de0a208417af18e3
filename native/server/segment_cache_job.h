// What a store job of the segment cache carries (private to segment_cache*.cc).
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "server/segment_cache.h"

namespace ioc {
namespace server {

// A unit of store I/O on one object. Spill segments are chosen (and pinned) when queued; a
// flush picks its dirty segments when it starts, so that it covers every write acknowledged
// before it was asked for.
struct SegmentCache::StoreJob {
  enum class Kind { Stat, Create, Load, Spill, Flush, Cow, Restore, Report, Delete } kind;
  ObjectId cowSrc;        // Cow: the source (the job runs on the destination's queue)
  bool cowWhole = false;  // Cow: the whole object (else offset/size)
  uint64_t cowSrcSize = 0;  // Cow: the source's logical size when the job started
  bool statExists = false;  // Stat: filled by the store thread
  int64_t statSize = 0;
  Segment *load = nullptr;        // Load, Restore: the segment to fill (pinned)
  uint32_t restoreBegin = 0, restoreEnd = 0;  // Restore: the range of the segment
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
  // Kinds added since carry their own struct (one type per kind).
  std::unique_ptr<StatJob> report;  // Report
  std::unique_ptr<DeleteJob> del;   // Delete
};

// A stat request: the store's lookup (filled on the store thread) and the reply.
struct SegmentCache::StatJob {
  StatDone done;
  int found = 0;
  int64_t size = 0;
};

// A delete: its tombstone (durable memory) and the segments it holds (pinned: never evicted,
// so never spilled back, while the store object goes). The reply is the job's done.
struct SegmentCache::DeleteJob {
  int tombstone = -1;
  std::vector<Segment *> held;
};

}  // namespace server
}  // namespace ioc
