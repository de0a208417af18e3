// The server's object cache: each object is a set of fixed-size, aligned segments held in slots
// of a SegmentMemory, loaded from the backing store on first access and written back on flush.
// The cache is bounded: above the high-water mark it spills (dirty segments are written back)
// and drops the least recently used segments until the low-water mark; segments in use by an
// in-flight request are pinned and never dropped. With persistent memory, an acknowledged write
// is durable in the pool (data, then a checksummed record) and recovered at the next start.
// Single-threaded: only the fabric thread calls it. Store I/O (loads of missing segments,
// spills, flushes) runs on a StoreWorker, one job at a time per object: a call that needs the
// store starts the job and returns kBusy; the caller retries when progressCount() changes.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/backing_store.h"
#include "server/segment_memory.h"
#include "server/store_worker.h"

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
  uint64_t drainedBytes = 0;  // written back in the background (write-behind)
  uint64_t writtenThroughBytes = 0;  // small writes into store-only segments, straight to the store
  uint64_t evictions = 0;     // segments dropped to make room
  uint64_t limitBytes = 0;
  uint64_t storeJobs = 0;     // store jobs queued or running
  uint64_t refusedWrites = 0; // new dirty data refused (ENOSPC) while spills fail
  uint64_t objects = 0;       // objects the cache keeps an entry for (segments, jobs, a lookup)
  std::vector<size_t> slotsPerPool;
};

struct CacheLimits {
  uint64_t cacheSize;    // bytes of segments the cache aims to hold at most
  double highWater = 0.9, lowWater = 0.7;  // fractions of cacheSize
  size_t storeThreads = 2;                 // concurrent store jobs (on different objects)
  bool writeBehind = true;                 // dirty segments start for the store as they land
  std::chrono::seconds slowStoreWarn{10};  // a store job running this long is logged (0: never)
};

class SegmentCache {
 public:
  // Returned when the request must wait for a store job or an in-place write: nothing stays
  // pinned; retry once progressCount() has changed.
  static constexpr int kBusy = -EINPROGRESS;

  // Recovers the dirty segments a durable memory kept from a previous run. wake() is called
  // from store threads when a job finished: the owner then calls runCompletions().
  SegmentCache(BackingStore &store, SegmentMemory &memory, const CacheLimits &limits, std::function<void()> wake);
  ~SegmentCache();

  // Pieces covering [offset, offset+size) in order; every piece's segment is pinned until
  // release(). For a write, fill the pieces then commit() them. 0, kBusy (missing segments
  // are being loaded, the cache waits for spills to make room, or an in-place write holds a
  // segment), or a negative errno (ENOSPC: the cache is full of data the store refuses).
  int access(const ObjectId &id, uint64_t offset, uint64_t size, bool write, std::vector<Piece> &out);
  // The pieces of a write are filled: mark them dirty and, with durable memory, persist the data
  // and the segment's record. Call before acknowledging the write.
  // With durable memory the persist is batched (group commit): when persistPending(), call
  // persistBatch() before acknowledging any write committed since the last one.
  int commit(const std::vector<Piece> &pieces);
  // A small write (its bytes at hand) into a segment that only the store holds goes to the
  // store directly, queued behind the object's store jobs, instead of loading the whole segment
  // first: a checkpoint's scattered pages into a copied version cost their own bytes. Writes
  // queued behind each other share one store job. expired() is asked when the job starts (a
  // write past its deadline is dropped: ETIMEDOUT). Returns kElsewhere when the write belongs
  // to the cache (the segment is cached, or the store holds nothing there, or a durable memory
  // keeps acknowledged writes: those stay in it), else 0 and done(0 or -errno) follows.
  static constexpr int kElsewhere = 1;
  int writeThrough(const ObjectId &id, uint64_t offset, const char *data, size_t len, std::function<bool()> expired,
                   std::function<void(int)> done);
  bool persistPending() const { return !batchData_.empty() || !batchSegs_.empty(); }
  void persistBatch();
  // Unpin. A segment whose slot does not hold the stored bytes (a full overwrite that never
  // arrived, an in-place write that failed) is repaired once nothing pins it: dropped when clean,
  // else its clean part reloaded.
  void release(std::vector<Piece> &pieces);
  // Whether a large write may land directly in the pieces' slots instead of a staging buffer:
  // no piece holds bytes that exist only here (every segment clean) and no other request pins
  // them. Saves the copy out of staging (8 MiB: ~1.4 ms here).
  bool writableInPlace(const std::vector<Piece> &pieces) const;
  // An in-place write holds the byte range it writes (each piece's range in its segment) from
  // begin to end: every other access overlapping it waits (kBusy), so nobody reads its bytes
  // before they are acknowledged; accesses to the rest of the segments go on (their writes
  // dirty the segment; write-backs skip the held ranges). A failed transfer (ok = false) is
  // undone range by range: a whole segment is dropped (it was clean and nobody else wrote it),
  // a partial range gets the stored bytes back by a store job (the segment was clean when the
  // write began and write-backs never covered the range), and stays held until then.
  void beginInPlace(const std::vector<Piece> &pieces);
  void endInPlace(const std::vector<Piece> &pieces, bool ok);
  // The in-place write failed (timed out) while its RMA operations may still land in its
  // pieces' memory: each segment moves to a fresh slot (a copy of everything outside the
  // range; the range restored as by endInPlace(false)) and the old slot stays with `pieces`
  // (freed by their release) so that late bytes land where nobody reads. A segment another
  // request pins too is left for a later call. True when every piece is done.
  bool abandonInPlace(std::vector<Piece> &pieces);
  // Write back the dirty bytes overlapping the range (size 0: whole object) and sync, on a
  // store thread; done(0 or -errno) runs in runCompletions() once the store holds them.
  void startFlush(const ObjectId &id, uint64_t offset, uint64_t size, std::function<void(int)> done);
  // Shutdown: flush everything, waiting at most `timeout`. When anything did not reach the
  // store (a flush failed, or the time-out: the stuck store threads are left behind), logs every
  // such object with its dirty byte count, kept in a durable pool or else lost
  // (reportUnwritten). 0, or the first error (-ETIMEDOUT on time-out).
  int flushAllBounded(std::chrono::milliseconds timeout);
  // Runs finished store jobs' completions (owner thread); returns how many ran.
  size_t runCompletions();
  // Drains wait for a moment (deferred, or held beside a burst): call runCompletions() again
  // within a few milliseconds rather than at the next idle tick.
  bool drainsWaiting() const { return !deferredDrains_.empty() || (drainsHeld_ && !drainQueue_.empty()); }
  // Changes whenever something a kBusy caller waits for may have happened.
  uint64_t progressCount() const { return progress_; }
  // Logs each store job that has run longer than the slowStoreWarn limit, once (and its end,
  // when it ends): a store that is slow or does not answer shows in the log, naming the object,
  // while the requests that wait for it are still waiting. Call now and then (owner thread).
  void reportSlowJobs(std::chrono::steady_clock::time_point now);
  // A store job or an in-place write is queued or running on the object.
  bool objectBusy(const ObjectId &id) const;
  // Create the object in the store (on a store thread); done(0 or -errno) as for startFlush.
  void startCreate(const ObjectId &id, std::function<void(int)> done);
  bool exists(const ObjectId &id);
  // Copy-on-write copy of the whole object (size 0) or of a range, loaded or not.
  // Store side, on a store thread: dst's dirty bytes in the range go to the store, the store
  // copies src (the whole object atomically, or the range), src's dirty cached bytes are written
  // over the copy, and dst's cached segments in the range are dropped. Meanwhile dst waits (kBusy).
  // Returns 0 (done(0 or -errno) follows), kBusy, or a negative errno at once (ENOENT, EEXIST).
  int cow(const ObjectId &src, const ObjectId &dst, bool allowExist, uint64_t offset, uint64_t size,
          std::function<void(int)> done);
  // Forget the entries of idle_ that hold no segment, job, in-place write or drain (so that
  // metadata does not grow with every id ever touched; the next access asks the store again).
  // Only where no Object reference is held: at the start of access() and cow(), after
  // completions, before stats. Entries are queued when they lose their last segment or a store
  // job ends, never when just statted: a parked request is about to use that answer.
  void pruneIdle();
  CacheStats stats() const;
  std::string describeStats() const;
  // Objects holding cached segments (for `iocatcher ls`).
  struct ObjectInfo {
    ObjectId id;
    uint64_t size = 0, segments = 0, cachedBytes = 0, dirtyBytes = 0;
  };
  std::vector<ObjectInfo> listObjects() const;
  size_t segmentSize() const { return segmentSize_; }
  std::string storeName() const { return store_.describe(); }

  // --- The object namespace (segment_cache_namespace.cc) ---
  // stat: the store's answer (a lookup on a store thread, after the object's queued store jobs)
  // with what the cache holds: logical size (the store's size or the end of the highest byte
  // written, the larger), stored bytes, cached bytes (of the logical size) and dirty bytes.
  // done(0 and the figures, -ENOENT when neither the cache nor the store holds the object, or
  // -errno) runs in runCompletions().
  using StatDone = std::function<void(int, const proto::ObjectStat &)>;
  void startStat(const ObjectId &id, StatDone done);
  // list: one page (proto::ListPage). The cursor says the phase: first the objects the cache
  // holds (created, written or found in the store), in id order, the cursor naming the last id
  // passed; then the store's (BackingStore::list), the cursor holding the store's position.
  // Store figures come from a store thread in both phases; entries are merged with what the
  // cache holds when their page is answered. -EINVAL at once for a cursor we never handed out;
  // else 0, and done(0 and the page, or -errno) runs in runCompletions().
  using ListDone = std::function<void(int, proto::ListPage &)>;
  int startList(const proto::ListRequest &req, ListDone done);
  // delete: the object's cached segments (dirty or clean), its pool records and its store object
  // go. With durable memory a tombstone is written first; the store object is removed on a store
  // thread (durably); then the segments and records are dropped and the tombstone cleared. A
  // crash before that leaves the object whole (no tombstone yet, or the store refused: nothing
  // changed) or gone (recover() completes a tombstoned delete). kBusy while the object is in use
  // (a segment pinned or loading, an in-place write, a store job queued or running on it or
  // reading it as a cow's source, its stat still running, every tombstone slot taken): retry;
  // -ENOENT when neither the cache nor the store holds it; else 0, and done(0 or -errno) follows
  // (on failure the object is as it was). Meanwhile every access to it waits (kBusy).
  int startDelete(const ObjectId &id, std::function<void(int)> done);
  bool deleting(const ObjectId &id) const;

 private:
  struct Object;
  // What a segment's slot holds. Transitions are checked (Segment::moveTo):
  //   Loading -> Loaded | LoadFailed | Detached     Unloaded -> Loaded | Detached
  //   Loaded -> Unloaded | Detached                 LoadFailed -> Detached
  enum class Fill : uint8_t {
    Loading,     // a load job fills the slot (and pins the segment)
    LoadFailed,  // the load failed: the next access reports loadError and drops the segment
    // Allocated for a full overwrite, or an in-place write into it failed: no store bytes in the
    // slot; valid once a write covers it whole, else repaired (reloaded) at release.
    Unloaded,
    Loaded,      // the store's bytes, with the dirty range over them
    Detached,    // dropped while pinned: freed by the last release
  };
  static const char *fillName(Fill f);
  struct Segment {
    ObjectId id;
    Object *obj = nullptr;
    uint64_t offset = 0;
    SegmentSlot slot;
    Fill fill = Fill::Loaded;
    uint32_t dirtyBegin = 0, dirtyEnd = 0;  // dirty byte range within the segment (empty: clean)
    int pins = 0;
    uint64_t gen = 0;       // bumped by every commit: a write-back clears only what it wrote
    int loadError = 0;      // LoadFailed: the store's error
    bool writingBack = false;  // a spill job holds it
    // Byte ranges [first, second) held by in-place writes (or being restored after one failed):
    // accesses overlapping one wait, write-backs leave them out.
    std::vector<std::pair<uint32_t, uint32_t>> held;
    std::chrono::steady_clock::time_point dirtiedAt;  // last commit (write-behind lets it settle)
    bool inBatch = false;   // its record is written by the next persistBatch (pinned until then)
    // Loaded for a request that waits (parked) to pin it with the rest of its range: not
    // evicted for a while, or a range as large as the cache would evict its own segments
    // while loading the others, forever.
    bool awaitingReader = false;
    std::chrono::steady_clock::time_point loadedAt;
    std::list<Segment *>::iterator lru;

    void moveTo(Fill to);
    bool loading() const { return fill == Fill::Loading; }
    bool detached() const { return fill == Fill::Detached; }
    bool unloaded() const { return fill == Fill::Unloaded; }
    bool dirty() const { return dirtyEnd > dirtyBegin; }
    bool inPlace() const { return !held.empty(); }
    bool overlapsHeld(uint64_t b, uint64_t e) const {
      for (const auto &r : held)
        if (b < r.second && r.first < e) return true;
      return false;
    }
    // Nothing works on it: no request, load, in-place write or spill (it may be dropped).
    bool idle() const { return pins == 0 && !loading() && !inPlace() && !writingBack; }
    // Only the caller's pin, clean, live: its slot may take an in-place write.
    bool soleCleanUse() const { return !detached() && !dirty() && pins == 1 && !writingBack && !inPlace(); }
    // In use by anything a delete must wait for (a batch persist included).
    bool inUse() const { return pins > 0 || loading() || inPlace() || writingBack || inBatch; }
  };
  // Store jobs, one type per kind (segment_cache_job.h).
  struct StoreJob;
  struct StoreWrite;
  struct LookupJob;
  struct CreateJob;
  struct LoadJob;
  struct RestoreJob;
  struct WriteBackJob;
  struct CowJob;
  struct StatJob;
  struct DeleteJob;
  struct WriteThroughJob;
  struct Object {
    ObjectId id;
    std::map<uint64_t, Segment *> segments;  // by segment offset
    uint64_t size = 0;                       // logical size: max(stored size, end of writes)
    bool known = false;                      // created, written, or found in the store
    bool statted = false;                    // known/size reflect the store (a stat job ran)
    int statError = 0;                       // the stat job failed: reported to the next lookup
    // What the store holds of it, as this cache last learnt it (lookups, stats, its own
    // write-backs); unknown after a failed write-back or a cow. A stat answers at once when known.
    struct InStore {
      bool known = false, exists = false;
      uint64_t bytes = 0;
      void learn(bool e, int64_t n) { *this = {true, e, e && n > 0 ? (uint64_t)n : 0}; }
    } inStore;
    std::deque<std::unique_ptr<StoreJob>> jobs;  // store jobs, one running at a time
    bool jobRunning = false;
    int inPlaceWrites = 0;
    bool drainQueued = false;
    bool cowing = false;  // the destination of a cow job: every access waits
    int cowReaders = 0;   // cow jobs (on other objects' queues) reading it from the store
    bool deleting = false;  // a delete job runs: every access waits
    bool unsyncedThrough = false;  // write-throughs reached the store since its last sync (flush)
    // Nothing refers to the entry: it may be forgotten.
    bool unheld() const {
      return segments.empty() && jobs.empty() && !jobRunning && inPlaceWrites == 0 && !drainQueued && cowReaders == 0 &&
             !unsyncedThrough;
    }
  };
  // The object, asking the store about it here (startup, cow).
  Object &object(const ObjectId &id);
  // The object, or kBusy while a store thread finds out whether (and how large) it is stored:
  // the request loop never waits for the store, even for metadata.
  int lookup(const ObjectId &id, Object *&out);
  // The entry, statted or not; queues a stat job if needed (queueStat false: the caller queues a
  // job that stats it).
  Object &entry(const ObjectId &id, bool queueStat = true);
  // The error of a failed stat job (the entry is forgotten if nothing holds it).
  int takeStatError(Object &obj);
  // The segment at segOffset; a missing one is loaded by a store job (kBusy) unless the caller
  // overwrites all of it.
  // [inSeg, inSeg+len): the bytes the caller accesses (waits while an in-place write holds any).
  int segment(const ObjectId &id, Object &obj, uint64_t segOffset, uint64_t inSeg, uint64_t len, bool fullOverwrite,
              bool write, Segment *&out);
  // Put the stored bytes back into [b, e) of a segment after a failed in-place write (store job);
  // the range stays held until then.
  void restoreRange(Segment *seg, uint32_t b, uint32_t e);
  void unhold(Segment *seg, uint32_t b, uint32_t e);
  // Adds seg's dirty bytes (within objSize) minus its held ranges to writes (an empty write
  // when there is nothing: the segment is still cleared if unchanged when the job ends).
  void dirtyWrites(Segment *seg, uint64_t objSize, std::vector<StoreWrite> &writes);
  struct RestoreRetry {
    std::chrono::steady_clock::time_point at;
    Segment *seg;
    uint32_t b, e;
  };
  std::vector<RestoreRetry> restoreRetries_;  // restores the store failed: again a second later
  // Drop clean unpinned segments and start spills of dirty ones, oldest first, until at most
  // `target` bytes are cached once the spills finish.
  void evict(uint64_t target);
  void enqueue(Object &obj, std::unique_ptr<StoreJob> job);
  void startNextJob(Object &obj);
  void jobDone(Object &obj, StoreJob &job, int ret);
  void snapshotCow(Object &dst, CowJob &job);  // pins what the cow job writes
  void cowDone(Object &dst, CowJob &job, int ret);
  // The namespace's jobs (segment_cache_namespace.cc).
  void statDone(Object &obj, StatJob &job, int ret);
  void deleteDone(Object &obj, DeleteJob &job, int ret);
  void fillStat(proto::ObjectStat &out, const ObjectId &id, bool stored, int64_t storedSize) const;
  void dropDrains(Object &obj);  // takes the object out of the write-behind queues
  // At start: a delete cut off by a crash is completed (the store object removed, the
  // tombstoned records dropped from `found`), or, when the store refuses, undone.
  void completeDelete(const Tombstone &t, std::vector<RecoveredSegment> &found);
  void markClean(Segment &seg);
  uint64_t reportUnwritten(const char *why);
  void drop(Segment *seg);
  void recover();

  BackingStore &store_;
  SegmentMemory &memory_;
  size_t segmentSize_;
  uint64_t limit_, highWater_, lowWater_;
  uint64_t progress_ = 0;
  std::chrono::seconds slowStoreWarn_;
  std::unordered_map<StoreJob *, Object *> runningJobs_;  // for reportSlowJobs
  uint64_t spillingBytes_ = 0;  // segments held by spill jobs
  int spillError_ = 0;          // the last spill failed (0: spills succeed): an episode
  std::chrono::steady_clock::time_point spillRetryAt_;
  // Write-behind: objects with dirty segments wait here for a drain job (one per object, at
  // most storeThreads at once, so flushes and loads always find a store thread).
  bool writeBehind_;
  size_t maxDrains_;
  std::deque<Object *> drainQueue_;
  size_t drainsInFlight_ = 0;
  // Segments written again within DRAIN_SETTLE are left for a later drain (a segment rewritten
  // every few ms would otherwise be written to the store as often): their objects wait here,
  // drainQueued still set, until runCompletions() finds them due.
  static constexpr std::chrono::milliseconds DRAIN_SETTLE{20};
  static constexpr std::chrono::seconds AWAIT_READER{5};  // see Segment::awaitingReader
  std::deque<std::pair<std::chrono::steady_clock::time_point, Object *>> deferredDrains_;
  // The burst first: while writes keep landing (the last commit within DRAIN_SETTLE) and the
  // dirty bytes stay under the low-water mark, queued drains wait, at most DRAIN_BURST_MAX in a
  // row. On the 2-vCPU VM a drain's disk writes beside a 1 GiB burst cost the burst about a
  // third of its speed; a flush is never held.
  static constexpr std::chrono::milliseconds DRAIN_BURST_MAX{500};
  std::chrono::steady_clock::time_point lastCommitAt_, drainsHeldSince_;
  bool drainsHeld_ = false;
  bool holdDrainsForBurst();
  void wantDrain(Object &obj);
  void startDrains();
  void deferDrain(Object &obj);
  void requeueDeferredDrains();
  // Group commit: what the next persistBatch() makes durable.
  std::vector<SegmentMemory::DataRange> batchData_;
  std::vector<Segment *> batchSegs_;
  std::map<ObjectId, Object> objects_;
  std::vector<ObjectId> idle_;  // entries that may hold nothing any more
  std::set<ObjectId> absent_;   // see rememberAbsent()
  std::deque<ObjectId> absentOrder_;
  // Store pages read ahead: when a listing's store page is answered, the page after it is read
  // on a store thread meanwhile (its cache figures are merged when it is asked for). A few at
  // once, the oldest dropped; a page older than LIST_AHEAD_FRESH is read again.
  struct StorePageKey;  // what a store page depends on: the position, the filter, the page size
  struct StorePageAhead;
  std::deque<std::shared_ptr<StorePageAhead>> listAhead_;
  StoreWorker::Work readStorePage(const StorePageKey &key, std::shared_ptr<StorePage> out);
  void answerStorePage(const std::shared_ptr<StorePage> &got, int ret, const StorePageKey &key, const ListDone &done);
  void readStorePageAhead(const StorePageKey &key);
  void rememberAbsent(const ObjectId &id, bool absent);
  std::list<Segment *> lru_;  // least recently used first
  mutable CacheStats stats_;
  StoreWorker worker_;  // last: its threads stop before the rest goes
};

}  // namespace server
}  // namespace ioc
