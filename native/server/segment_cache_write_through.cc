// Small writes into segments that only the store holds go to the store directly (see
// SegmentCache::writeThrough): no whole-segment load for a few bytes.
#include <errno.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "server/log.h"
#include "server/segment_cache.h"
#include "server/segment_cache_job.h"

namespace ioc {
namespace server {

int SegmentCache::writeThrough(const ObjectId &id, uint64_t offset, const char *data, size_t len,
                               std::function<bool()> expired, std::function<void(int)> done) {
  if (len == 0 || memory_.durable()) return kElsewhere;
  auto it = objects_.find(id);
  if (it == objects_.end()) return kElsewhere;
  Object &obj = it->second;
  uint64_t segOffset = offset - offset % segmentSize_;
  bool oneSegment = (offset + len - 1) - (offset + len - 1) % segmentSize_ == segOffset;
  if (!obj.statted || obj.statError || obj.cowing || obj.deleting || !oneSegment || len == segmentSize_ ||
      segOffset >= obj.size || obj.segments.count(segOffset))
    return kElsewhere;
  WriteThroughJob::Write w{offset, std::vector<char>(data, data + len), std::move(expired), std::move(done)};
  // Joins the last queued job when that one is a write-through not yet started.
  if (!obj.jobs.empty()) {
    auto *last = dynamic_cast<WriteThroughJob *>(obj.jobs.back().get());
    if (last && !last->started) {
      last->writes.push_back(std::move(w));
      return 0;
    }
  }
  std::unique_ptr<WriteThroughJob> job(new WriteThroughJob);
  job->writes.push_back(std::move(w));
  enqueue(obj, std::move(job));
  return 0;
}

StoreWorker::Work SegmentCache::WriteThroughJob::start(SegmentCache &cache, Object &obj) {
  started = true;
  for (Write &w : writes)
    if (w.expired && w.expired()) w.ret = -ETIMEDOUT;
  BackingStore &store = cache.store_;
  ObjectId id = obj.id;
  return [&store, id, this] {
    for (Write &w : writes) {
      if (w.ret) continue;
      ssize_t n = store.write(id, w.offset, w.bytes.data(), w.bytes.size());
      w.ret = n < 0 ? (int)n : (size_t)n == w.bytes.size() ? 0 : -EIO;
    }
    return 0;
  };
}

void SegmentCache::WriteThroughJob::finish(SegmentCache &cache, Object &obj, int, std::vector<Segment *> &) {
  bool failed = false;
  for (Write &w : writes) {
    if (w.ret == 0) {
      uint64_t end = w.offset + w.bytes.size();
      obj.known = true;
      obj.size = std::max(obj.size, end);
      if (obj.inStore.known) {
        obj.inStore.exists = true;
        obj.inStore.bytes = std::max(obj.inStore.bytes, end);
      }
      cache.stats_.writtenThroughBytes += w.bytes.size();
      obj.unsyncedThrough = true;
    } else if (w.ret != -ETIMEDOUT) {
      failed = true;
    }
  }
  if (failed) {
    obj.inStore = Object::InStore();  // what landed is the store's to say
    log(LOG_WARN, "cache", "a write of object %s to the store %s failed", objectLabel(obj.id).c_str(),
        cache.store_.describe().c_str());
  }
  for (Write &w : writes) w.done(w.ret);
}

}  // namespace server
}  // namespace ioc
