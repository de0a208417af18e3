// The segment cache's store jobs, one type per kind (private to segment_cache*.cc). A job waits
// in its object's queue (one runs at a time per object); when it reaches the front, start()
// runs on the owner's thread: it takes what the job works on (pins, a snapshot of dirty bytes)
// and returns the store work, which runs on a store thread; finish() then applies the result on
// the owner's thread and lists the segments to unpin; `done`, if set, is the reply.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "server/segment_cache.h"

namespace ioc {
namespace server {

struct SegmentCache::StoreJob {
  virtual ~StoreJob() = default;
  virtual StoreWorker::Work start(SegmentCache &cache, Object &obj) = 0;
  virtual void finish(SegmentCache &cache, Object &obj, int ret, std::vector<Segment *> &unpin) = 0;
  virtual bool lookupOnly() const { return false; }  // leaves the entry as it found it
  virtual bool isDrain() const { return false; }
  virtual const char *kind() const = 0;  // for the log
  std::function<void(int)> done;
  // Running since (set by startNextJob); whether a slow-store warning was logged for it.
  std::chrono::steady_clock::time_point startedAt;
  bool reportedSlow = false;
};

// Reload the bytes of a segment that are not dirty (they must equal the store's): at start
// (segment_cache_recovery.cc) and when an unloaded segment is repaired.
int reloadClean(BackingStore &store, const ObjectId &id, uint64_t objSize, uint64_t segOffset, char *data,
                uint64_t segSize, uint64_t dirtyBegin, uint64_t dirtyEnd);

// Bytes of a segment a job writes to the store, as they were when it started.
struct SegmentCache::StoreWrite {
  Segment *seg;
  uint64_t storeOffset;
  const char *data;
  size_t len;
  uint64_t gen;  // the segment's generation then: cleared only if no write landed since
};

// Whether (and how large) the object is stored: the entry's first lookup.
struct SegmentCache::LookupJob : StoreJob {
  StoreWorker::Work start(SegmentCache &cache, Object &obj) override;
  void finish(SegmentCache &cache, Object &obj, int ret, std::vector<Segment *> &unpin) override;
  const char *kind() const override { return "store lookup"; }
  bool lookupOnly() const override { return true; }
  bool exists = false;
  int64_t size = 0;
};

struct SegmentCache::CreateJob : StoreJob {
  StoreWorker::Work start(SegmentCache &cache, Object &obj) override;
  void finish(SegmentCache &cache, Object &obj, int ret, std::vector<Segment *> &unpin) override;
  const char *kind() const override { return "create"; }
};

// Fill a missing segment (pinned) with the stored bytes.
struct SegmentCache::LoadJob : StoreJob {
  LoadJob(Segment *s, uint64_t n) : seg(s), size(n) {}
  StoreWorker::Work start(SegmentCache &cache, Object &obj) override;
  void finish(SegmentCache &cache, Object &obj, int ret, std::vector<Segment *> &unpin) override;
  const char *kind() const override { return "segment load"; }
  Segment *seg;
  uint64_t size;  // bytes to read (the stored part of the segment)
};

// Put the stored bytes back into [begin, end) of a segment after a failed in-place write.
struct SegmentCache::RestoreJob : StoreJob {
  RestoreJob(Segment *s, uint32_t b, uint32_t e) : seg(s), begin(b), end(e) {}
  StoreWorker::Work start(SegmentCache &cache, Object &obj) override;
  void finish(SegmentCache &cache, Object &obj, int ret, std::vector<Segment *> &unpin) override;
  const char *kind() const override { return "segment restore"; }
  Segment *seg;
  uint32_t begin, end;
};

// Dirty bytes to the store: a spill (segments chosen and pinned when queued, to make room), a
// flush (segments picked when it starts, so that it covers every write acknowledged before it
// was asked for; synced), or a drain (write-behind: settled segments only, no reply, synced
// only for a durable pool).
struct SegmentCache::WriteBackJob : StoreJob {
  enum class Why { Spill, Flush, Drain };
  explicit WriteBackJob(Why w) : why(w) {}
  StoreWorker::Work start(SegmentCache &cache, Object &obj) override;
  void finish(SegmentCache &cache, Object &obj, int ret, std::vector<Segment *> &unpin) override;
  bool isDrain() const override { return why == Why::Drain; }
  const char *kind() const override {
    return why == Why::Spill ? "spill" : why == Why::Flush ? "flush" : "write-behind drain";
  }
  Why why;
  std::vector<Segment *> segs;    // one pin each
  uint64_t offset = 0, size = 0;  // Flush: the range (size 0: whole object)
  std::vector<StoreWrite> writes;
  bool syncedThrough = false;  // Flush: write-throughs were in the store when it started (its sync covers them)
};

// Copy-on-write (runs on the destination's queue): the destination's dirty bytes in the range,
// the store's copy of the source, then the source's dirty cached bytes over it.
struct SegmentCache::CowJob : StoreJob {
  StoreWorker::Work start(SegmentCache &cache, Object &obj) override;
  void finish(SegmentCache &cache, Object &obj, int ret, std::vector<Segment *> &unpin) override;
  const char *kind() const override { return "copy-on-write"; }
  ObjectId src;
  bool whole = false;     // the whole object (else offset/size)
  uint64_t srcSize = 0;   // the source's logical size when the job started
  uint64_t offset = 0, size = 0;
  std::vector<StoreWrite> writes;   // the destination's
  std::vector<StoreWrite> overlay;  // the source's dirty bytes, written over the copy
};

// A stat request: the store's lookup (filled on the store thread) and the reply.
struct SegmentCache::StatJob : StoreJob {
  StoreWorker::Work start(SegmentCache &cache, Object &obj) override;
  void finish(SegmentCache &cache, Object &obj, int ret, std::vector<Segment *> &unpin) override;
  const char *kind() const override { return "stat"; }
  StatDone reply;
  int found = 0;
  int64_t size = 0;
};

// A delete: its tombstone (durable memory) and the segments it holds (pinned: never evicted,
// so never spilled back, while the store object goes). The reply is the job's done.
struct SegmentCache::DeleteJob : StoreJob {
  StoreWorker::Work start(SegmentCache &cache, Object &obj) override;
  void finish(SegmentCache &cache, Object &obj, int ret, std::vector<Segment *> &unpin) override;
  const char *kind() const override { return "delete"; }
  int tombstone = -1;
  std::vector<Segment *> held;
};

// Small writes into segments only the store holds, straight to the store (writeThrough());
// writes queued behind a job not yet started join it.
struct SegmentCache::WriteThroughJob : StoreJob {
  StoreWorker::Work start(SegmentCache &cache, Object &obj) override;
  void finish(SegmentCache &cache, Object &obj, int ret, std::vector<Segment *> &unpin) override;
  const char *kind() const override { return "write-through"; }
  struct Write {
    uint64_t offset;
    std::vector<char> bytes;
    std::function<bool()> expired;
    std::function<void(int)> done;
    int ret = 0;  // -ETIMEDOUT when expired at start, else the store's result
  };
  std::vector<Write> writes;
  bool started = false;
};

}  // namespace server
}  // namespace ioc
