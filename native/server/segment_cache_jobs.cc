// The segment cache's store jobs: queued per object, run on the StoreWorker's threads, completed
// on the owner's thread (runCompletions). Stat, create, load, spill, flush, drain
// (write-behind), cow, and the bounded flush at shutdown.
#include <errno.h>

#include <algorithm>
#include <cstring>

#include "server/log.h"
#include "server/segment_cache.h"
#include "server/segment_cache_job.h"

namespace ioc {
namespace server {

void SegmentCache::enqueue(Object &obj, std::unique_ptr<StoreJob> job) {
  stats_.storeJobs++;
  obj.jobs.push_back(std::move(job));
  if (!obj.jobRunning) startNextJob(obj);
}

void SegmentCache::startNextJob(Object &obj) {
  if (obj.jobs.empty()) return;
  obj.jobRunning = true;
  StoreJob *job = obj.jobs.front().get();
  StoreWorker::Work work = job->start(*this, obj);
  job->startedAt = std::chrono::steady_clock::now();
  runningJobs_[job] = &obj;
  Object *o = &obj;
  worker_.submit(std::move(work), [this, o, job](int ret) { jobDone(*o, *job, ret); });
}

void SegmentCache::jobDone(Object &obj, StoreJob &job, int ret) {
  std::unique_ptr<StoreJob> owned = std::move(obj.jobs.front());
  obj.jobs.pop_front();
  runningJobs_.erase(&job);
  if (job.reportedSlow)
    log(LOG_WARN, "cache", "the slow %s of object %s ended after %.1f s (%s)", job.kind(), objectLabel(obj.id).c_str(),
        std::chrono::duration<double>(std::chrono::steady_clock::now() - job.startedAt).count(),
        ret < 0 ? strerror(-ret) : "done");
  obj.jobRunning = false;
  stats_.storeJobs--;
  progress_++;
  std::vector<Segment *> unpin;
  job.finish(*this, obj, ret, unpin);
  // Created, loaded, written back: an entry left without segments is not needed any more.
  if (!job.lookupOnly()) idle_.push_back(obj.id);
  // release() unpins (and frees detached segments, drops spilled clean ones once over the
  // high-water mark); then the next job of the object starts.
  std::vector<Piece> pieces;
  for (Segment *seg : unpin) pieces.push_back({nullptr, 0, nullptr, seg});
  if (!obj.jobs.empty()) startNextJob(obj);
  std::function<void(int)> done = std::move(job.done);
  release(pieces);
  if (job.isDrain()) startDrains();
  if (done) done(ret);
}

void SegmentCache::reportSlowJobs(std::chrono::steady_clock::time_point now) {
  if (slowStoreWarn_.count() <= 0) return;
  for (auto &[job, obj] : runningJobs_) {
    if (job->reportedSlow || now - job->startedAt < slowStoreWarn_) continue;
    job->reportedSlow = true;
    log(LOG_WARN, "cache", "a %s of object %s has run for %.0f s: the store is slow or does not answer "
        "(%zu more jobs of the object wait behind it)", job->kind(), objectLabel(obj->id).c_str(),
        std::chrono::duration<double>(now - job->startedAt).count(), obj->jobs.size() - 1);
  }
}

// --- lookup, create ---

StoreWorker::Work SegmentCache::LookupJob::start(SegmentCache &cache, Object &obj) {
  BackingStore &store = cache.store_;
  ObjectId id = obj.id;
  return [&store, id, this] {
    int found = store.probe(id, size);
    exists = found > 0;
    return found < 0 ? found : 0;
  };
}

void SegmentCache::LookupJob::finish(SegmentCache &, Object &obj, int ret, std::vector<Segment *> &) {
  if (ret < 0) {
    // Not "absent" (its data would read as zeros): the waiting requests get the error.
    log(LOG_ERROR, "cache", "cannot look an object up in the store: %s", strerror(-ret));
    obj.statError = ret;
    return;
  }
  if (exists) obj.known = true;
  obj.size = std::max<uint64_t>(obj.size, (uint64_t)size);
  obj.inStore.learn(exists, size);
  obj.statted = true;
}

StoreWorker::Work SegmentCache::CreateJob::start(SegmentCache &cache, Object &obj) {
  BackingStore &store = cache.store_;
  ObjectId id = obj.id;
  return [&store, id] { return store.create(id); };
}

void SegmentCache::CreateJob::finish(SegmentCache &, Object &obj, int ret, std::vector<Segment *> &) {
  if (ret == 0) obj.known = true;
  if (ret == 0 && obj.inStore.known) obj.inStore.exists = true;
}

// --- load, restore ---

StoreWorker::Work SegmentCache::LoadJob::start(SegmentCache &cache, Object &obj) {
  BackingStore &store = cache.store_;
  ObjectId id = obj.id;
  char *data = seg->slot.data;
  uint64_t offset = seg->offset, len = size;
  return [&store, id, data, offset, len] {
    ssize_t r = store.read(id, offset, data, len);
    return r < 0 ? (int)r : 0;
  };
}

void SegmentCache::LoadJob::finish(SegmentCache &, Object &, int ret, std::vector<Segment *> &unpin) {
  seg->awaitingReader = ret == 0;
  seg->loadedAt = std::chrono::steady_clock::now();
  if (!seg->detached()) seg->moveTo(ret == 0 ? Fill::Loaded : Fill::LoadFailed);  // detached: dropped meanwhile
  if (ret < 0) {
    seg->loadError = ret;
    log(LOG_WARN, "cache", "cannot load a segment from the store: %s", strerror(-ret));
  }
  unpin.push_back(seg);
}

// The stored bytes of the range (zeros past the stored end): what it held before the failed
// in-place write, since the segment was clean then and no write-back covered the range.
StoreWorker::Work SegmentCache::RestoreJob::start(SegmentCache &cache, Object &obj) {
  BackingStore &store = cache.store_;
  ObjectId id = obj.id;
  char *data = seg->slot.data + begin;
  uint64_t offset = seg->offset + begin, len = end - begin;
  return [&store, id, data, offset, len] {
    ssize_t r = store.read(id, offset, data, len);
    return r < 0 ? (int)r : 0;
  };
}

void SegmentCache::RestoreJob::finish(SegmentCache &cache, Object &, int ret, std::vector<Segment *> &unpin) {
  if (ret < 0) {
    // The range stays held (its accesses wait, then time out) and is restored again later.
    log(LOG_WARN, "cache", "cannot restore the range of a failed in-place write from the store: %s (again in 1 s)",
        strerror(-ret));
    seg->pins++;  // the retry's
    cache.restoreRetries_.push_back({std::chrono::steady_clock::now() + std::chrono::seconds(1), seg, begin, end});
  } else {
    cache.unhold(seg, begin, end);
  }
  unpin.push_back(seg);
}

// --- spill, flush, drain ---

// Snapshot what the job writes (the dirty bytes within the object's logical size: never a
// segment's zero tail), then write it on a store thread.
StoreWorker::Work SegmentCache::WriteBackJob::start(SegmentCache &cache, Object &obj) {
  syncedThrough = why == Why::Flush && obj.unsyncedThrough;  // jobs of an object run one at a time
  if (why != Why::Spill) {
    uint64_t end = size == 0 ? UINT64_MAX : offset + size;
    auto settled = std::chrono::steady_clock::now() - DRAIN_SETTLE;
    bool unsettled = false;
    for (auto &kv : obj.segments) {
      Segment *seg = kv.second;
      if (seg->offset + cache.segmentSize_ <= offset || seg->offset >= end || !seg->dirty()) continue;
      if (why == Why::Drain && seg->dirtiedAt > settled) {
        unsettled = true;  // still being written: a later drain takes it
        continue;
      }
      seg->pins++;
      segs.push_back(seg);
    }
    if (unsettled) cache.deferDrain(obj);
  }
  for (Segment *seg : segs) cache.dirtyWrites(seg, obj.size, writes);
  BackingStore &store = cache.store_;
  ObjectId id = obj.id;
  std::vector<StoreWrite> snapshot = writes;
  bool create = why == Why::Flush && obj.known;  // created-but-empty objects persist too
  // A durable pool drops records only once synced (a drain that found nothing settled has
  // nothing to sync).
  bool sync = why == Why::Flush || (cache.memory_.durable() && !writes.empty());
  return [&store, id, snapshot, create, sync] {
    for (const StoreWrite &w : snapshot) {
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

void SegmentCache::WriteBackJob::finish(SegmentCache &cache, Object &obj, int ret, std::vector<Segment *> &unpin) {
  uint64_t written = 0;
  for (const StoreWrite &w : writes) {
    // Cleared only if no write landed meanwhile: a later write keeps the segment dirty.
    if (ret == 0 && w.seg->gen == w.gen && !w.seg->detached()) cache.markClean(*w.seg);
    written += w.len;
    if (ret == 0 && w.len && obj.inStore.known) {
      obj.inStore.exists = true;
      obj.inStore.bytes = std::max<uint64_t>(obj.inStore.bytes, w.storeOffset + w.len);
    }
  }
  if (ret == 0 && why == Why::Flush && obj.known) obj.inStore.exists = true;  // created if absent
  if (ret < 0) obj.inStore = Object::InStore();  // some of the writes may have landed
  unpin = segs;  // one pin per segment (a segment may have several writes)
  switch (why) {
    case Why::Flush:
      if (ret == 0 && syncedThrough) obj.unsyncedThrough = false;
      if (ret < 0)
        log(LOG_ERROR, "cache", "flush of object %s to the store %s failed: %s", objectLabel(obj.id).c_str(),
            cache.store_.describe().c_str(), strerror(-ret));
      else
        cache.stats_.flushedBytes += written;
      break;
    case Why::Drain:
      cache.drainsInFlight_--;
      if (ret == 0)
        cache.stats_.drainedBytes += written;
      else
        log(LOG_WARN, "cache", "write-behind of object %s to the store %s failed: %s (the data stays dirty in the cache)",
            objectLabel(obj.id).c_str(), cache.store_.describe().c_str(), strerror(-ret));
      break;
    case Why::Spill:
      for (Segment *seg : segs) {
        seg->writingBack = false;
        cache.spillingBytes_ -= cache.segmentSize_;
      }
      if (ret < 0) {
        if (!cache.spillError_)
          log(LOG_ERROR, "cache",
              "cannot spill object %s to the store (%s: %s): dirty segments stay cached, new dirty data is "
              "refused (ENOSPC) while the cache is full; retrying every second",
              objectLabel(obj.id).c_str(), cache.store_.describe().c_str(), strerror(-ret));
        cache.spillError_ = ret;
        cache.spillRetryAt_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      } else {
        if (cache.spillError_) log(LOG_INFO, "cache", "spills to the store succeed again");
        cache.spillError_ = 0;
        cache.stats_.spilledBytes += written;
      }
      break;
  }
}

// --- the namespace's (segment_cache_namespace.cc does the rest) ---

StoreWorker::Work SegmentCache::StatJob::start(SegmentCache &cache, Object &obj) {
  BackingStore &store = cache.store_;
  ObjectId id = obj.id;
  return [&store, id, this] {
    found = store.probe(id, size);
    return found < 0 ? found : 0;
  };
}

void SegmentCache::StatJob::finish(SegmentCache &cache, Object &obj, int ret, std::vector<Segment *> &) {
  cache.statDone(obj, *this, ret);
}

StoreWorker::Work SegmentCache::DeleteJob::start(SegmentCache &cache, Object &obj) {
  BackingStore &store = cache.store_;
  ObjectId id = obj.id;
  return [&store, id] { return store.remove(id); };
}

void SegmentCache::DeleteJob::finish(SegmentCache &cache, Object &obj, int ret, std::vector<Segment *> &) {
  cache.deleteDone(obj, *this, ret);
}

void SegmentCache::dirtyWrites(Segment *seg, uint64_t objSize, std::vector<StoreWrite> &writes) {
  uint64_t valid = objSize - std::min(objSize, seg->offset);
  uint64_t b = seg->dirtyBegin, e = std::min<uint64_t>(seg->dirtyEnd, valid);
  size_t before = writes.size();
  if (seg->dirty() && !seg->detached() && e > b) {
    // Ranges held by in-place writes hold bytes in flight (or a failed transfer's, until
    // restored): the store keeps its bytes there, which a failed write's restore reads back.
    std::vector<std::pair<uint32_t, uint32_t>> held = seg->held;
    std::sort(held.begin(), held.end());
    uint64_t pos = b;
    for (const auto &r : held) {
      if (r.second <= pos || r.first >= e) continue;
      if (r.first > pos) writes.push_back({seg, seg->offset + pos, seg->slot.data + pos, (size_t)(r.first - pos), seg->gen});
      pos = std::max<uint64_t>(pos, r.second);
    }
    if (pos < e) writes.push_back({seg, seg->offset + pos, seg->slot.data + pos, (size_t)(e - pos), seg->gen});
  }
  if (writes.size() == before) writes.push_back({seg, 0, nullptr, 0, seg->gen});  // cleared if unchanged
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
  if (holdDrainsForBurst()) return;  // runCompletions() starts them when the burst pauses
  // After a failed spill or drain the store is refusing: leave the data for flushes and spills.
  while (drainsInFlight_ < maxDrains_ && !drainQueue_.empty() && !spillError_) {
    Object *obj = drainQueue_.front();
    drainQueue_.pop_front();
    obj->drainQueued = false;
    drainsInFlight_++;
    enqueue(*obj, std::unique_ptr<StoreJob>(new WriteBackJob(WriteBackJob::Why::Drain)));
  }
}

bool SegmentCache::holdDrainsForBurst() {
  if (drainQueue_.empty()) return false;
  auto now = std::chrono::steady_clock::now();
  if (now - lastCommitAt_ >= DRAIN_SETTLE || stats_.dirtyBytes >= lowWater_) {
    drainsHeld_ = false;  // the writes paused, or the cache needs the room: drain now
    return false;
  }
  if (!drainsHeld_) {
    drainsHeld_ = true;
    drainsHeldSince_ = now;
  }
  return now - drainsHeldSince_ < DRAIN_BURST_MAX;  // a long burst gets drains beside it
}

void SegmentCache::deferDrain(Object &obj) {
  if (obj.drainQueued) return;  // queued already: that drain looks again
  obj.drainQueued = true;
  deferredDrains_.emplace_back(std::chrono::steady_clock::now() + DRAIN_SETTLE, &obj);
}

void SegmentCache::requeueDeferredDrains() {
  auto now = std::chrono::steady_clock::now();
  while (!deferredDrains_.empty() && deferredDrains_.front().first <= now) {
    Object *obj = deferredDrains_.front().second;
    deferredDrains_.pop_front();
    obj->drainQueued = false;
    wantDrain(*obj);
  }
}

size_t SegmentCache::runCompletions() {
  requeueDeferredDrains();
  startDrains();  // the ones held beside a burst
  size_t n = worker_.runCompletions();
  if (!restoreRetries_.empty()) {
    auto now = std::chrono::steady_clock::now();
    std::vector<RestoreRetry> due;
    for (auto it = restoreRetries_.begin(); it != restoreRetries_.end();) {
      if (it->at > now) {
        ++it;
        continue;
      }
      due.push_back(*it);
      it = restoreRetries_.erase(it);
    }
    for (const RestoreRetry &r : due) {
      restoreRange(r.seg, r.b, r.e);
      r.seg->pins--;  // the retry's pin is now the job's
    }
  }
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
  std::unique_ptr<WriteBackJob> job(new WriteBackJob(WriteBackJob::Why::Flush));
  job->offset = offset;
  job->size = size;
  job->done = std::move(done);
  enqueue(obj, std::move(job));
}

int SegmentCache::flushAllBounded(std::chrono::milliseconds timeout) {
  int first = 0;
  for (auto &kv : objects_) {
    bool dirty = kv.second.unsyncedThrough;  // created objects are in the store already (create() writes through)
    for (auto &seg : kv.second.segments) dirty |= seg.second->dirty();
    if (!dirty) continue;
    startFlush(kv.first, 0, 0, [&first](int ret) {
      if (ret < 0 && first == 0) first = ret;
    });
  }
  if (worker_.waitIdle(std::chrono::steady_clock::now() + timeout)) {
    // Every flush ended: those that failed left their segments dirty.
    if (reportUnwritten(first == 0 ? nullptr : ("the store " + store_.describe() + " refused the writes (" +
                                                strerror(-first) + ")").c_str()) > 0 && first == 0)
      first = -EIO;  // dirty without a failed flush: never reported as a clean shutdown
    return first;
  }
  // Stuck in the store: say exactly what did not get there.
  reportUnwritten(("the store " + store_.describe() + " did not finish within " + std::to_string(timeout.count()) +
                   " ms").c_str());
  worker_.abandon();
  return -ETIMEDOUT;
}

// The one list of what a shutdown leaves out of the store, whatever the cause: every object with
// dirty bytes, each with its byte count and their fate, then a summary line. Returns the number of
// objects listed.
uint64_t SegmentCache::reportUnwritten(const char *why) {
  uint64_t objects = 0, bytes = 0;
  bool durable = memory_.durable();
  for (auto &kv : objects_) {
    uint64_t dirty = 0;
    for (auto &seg : kv.second.segments) dirty += seg.second->dirtyEnd - seg.second->dirtyBegin;
    if (!dirty) continue;
    objects++;
    bytes += dirty;
    log(LOG_ERROR, "server", "shutdown: object %s: %llu dirty bytes not in the store (%s)", objectLabel(kv.first).c_str(),
        (unsigned long long)dirty,
        durable ? "kept in the --nvdimm pool, written after a restart" : "LOST");
  }
  if (!objects) return 0;
  log(LOG_ERROR, "server", "shutdown: %s: %llu objects, %llu dirty bytes %s", why ? why : "the store did not take them",
      (unsigned long long)objects, (unsigned long long)bytes,
      durable ? ("stay in the --nvdimm pool " + memory_.describe() +
                 " (a restart with the same --nvdimm serves them and writes them to the store at its next flush or "
                 "shutdown)").c_str()
              : "are lost (no --nvdimm pool)");
  return objects;
}

void SegmentCache::startCreate(const ObjectId &id, std::function<void(int)> done) {
  Object &obj = entry(id);
  std::unique_ptr<CreateJob> job(new CreateJob);
  job->done = std::move(done);
  enqueue(obj, std::move(job));
}

}  // namespace server
}  // namespace ioc
