// The segment cache's side of the object namespace: stat, list (the cache's objects, then the
// store's) and delete (with its tombstone in durable memory, and its completion at start).
#include <errno.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>

#include "server/log.h"
#include "server/segment_cache.h"
#include "server/segment_cache_job.h"

namespace ioc {
namespace server {

struct SegmentCache::StorePageKey {
  std::string position;  // the store's
  bool filterHigh;
  int64_t high;
  size_t max;
  bool operator==(const StorePageKey &o) const {
    return position == o.position && filterHigh == o.filterHigh && high == o.high && max == o.max;
  }
  StorePageKey at(const std::string &next) const { return {next, filterHigh, high, max}; }
};

struct SegmentCache::StorePageAhead {
  StorePageKey key;
  std::shared_ptr<StorePage> page;
  int ret = 0;
  bool ready = false;
  std::chrono::steady_clock::time_point readAt;
  ListDone waiter;  // a request that came while it was being read
};

using proto::ListPage;
using proto::ObjectStat;

void SegmentCache::fillStat(ObjectStat &out, const ObjectId &id, bool stored, int64_t storedSize) const {
  out = ObjectStat();
  out.objectId = id;
  out.stored = stored;
  out.storedBytes = stored && storedSize > 0 ? (uint64_t)storedSize : 0;
  out.size = out.storedBytes;
  auto it = objects_.find(id);
  if (it == objects_.end()) return;
  const Object &obj = it->second;
  if (obj.known) out.size = std::max(out.size, obj.size);
  for (const auto &kv : obj.segments) {
    const Segment *seg = kv.second;
    if (seg->offset < out.size) out.cachedBytes += std::min<uint64_t>(segmentSize_, out.size - seg->offset);
    out.dirtyBytes += seg->dirtyEnd - seg->dirtyBegin;
  }
}

// --- stat ---

void SegmentCache::startStat(const ObjectId &id, StatDone done) {
  pruneIdle();
  // No separate stat job: this one's lookup tells an entry not yet statted too.
  Object &obj = entry(id, false);
  if (obj.statted && obj.inStore.known && obj.jobs.empty() && !obj.jobRunning && !obj.deleting && !obj.cowing) {
    // Nothing queued could change the store's figures: answered without a store thread.
    ObjectStat out;
    fillStat(out, obj.id, obj.inStore.exists, (int64_t)obj.inStore.bytes);
    return done(out.stored || obj.known ? 0 : -ENOENT, out);
  }
  std::unique_ptr<StatJob> job(new StatJob);
  job->reply = std::move(done);
  enqueue(obj, std::move(job));
}

void SegmentCache::statDone(Object &obj, StatJob &st, int ret) {
  if (!obj.statted && !obj.statError) {
    // Requests that arrived meanwhile wait for this lookup (none was queued for them).
    if (ret < 0) {
      obj.statError = ret;
    } else {
      obj.known = st.found > 0;
      obj.size = std::max<uint64_t>(obj.size, (uint64_t)std::max<int64_t>(0, st.size));
      obj.statted = true;
    }
  }
  if (ret == 0) obj.inStore.learn(st.found > 0, st.size);
  if (ret < 0) {
    log(LOG_WARN, "cache", "cannot look object %s up in the store %s: %s", objectLabel(obj.id).c_str(),
        store_.describe().c_str(), strerror(-ret));
    return st.reply(ret, ObjectStat());
  }
  ObjectStat out;
  fillStat(out, obj.id, st.found > 0, st.size);
  st.reply(out.stored || obj.known ? 0 : -ENOENT, out);
}

// --- list ---

namespace {

constexpr const char *CACHE_PHASE = "c:";  // then HIGH and LOW as 16 hex digits each
constexpr const char *STORE_PHASE = "s:";  // then the store's position
constexpr size_t CACHE_SCAN_MAX = 65536;   // cache entries one page passes at most

std::string idCursor(const ObjectId &id) {
  char s[40];
  snprintf(s, sizeof s, "%s%016llx%016llx", CACHE_PHASE, (unsigned long long)id.high, (unsigned long long)id.low);
  return s;
}

bool startsWith(const std::string &s, const char *prefix) { return s.compare(0, strlen(prefix), prefix) == 0; }

constexpr size_t LIST_AHEAD_MAX = 4;
constexpr std::chrono::seconds LIST_AHEAD_FRESH(2);


}  // namespace

StoreWorker::Work SegmentCache::readStorePage(const StorePageKey &key, std::shared_ptr<StorePage> out) {
  BackingStore &store = store_;
  return [&store, key, out] { return store.list(key.position, key.filterHigh, key.high, key.max, *out); };
}

int SegmentCache::startList(const proto::ListRequest &req, ListDone done) {
  size_t max = req.maxEntries == 0 || req.maxEntries > ListPage::MAX_ENTRIES ? ListPage::MAX_ENTRIES : req.maxEntries;
  std::string position;  // phase 2's
  if (req.cursor.empty() || startsWith(req.cursor, CACHE_PHASE)) {
    ObjectId after;
    bool fromStart = req.cursor.empty();
    if (!fromStart && (req.cursor.size() != 34 || !parseHex16(req.cursor.data() + 2, after.high) ||
                       !parseHex16(req.cursor.data() + 18, after.low)))
      return -EINVAL;
    pruneIdle();
    auto it = fromStart ? objects_.begin() : objects_.upper_bound(after);
    ObjectId first{INT64_MIN, req.high};
    if (req.filterHigh && (fromStart || after < first)) it = objects_.lower_bound(first);
    auto probes = std::make_shared<std::vector<ProbedObject>>();
    bool exhausted = true;
    ObjectId last;
    for (size_t scanned = 0; it != objects_.end() && !(req.filterHigh && it->first.high != req.high); ++it) {
      if (probes->size() >= max || scanned >= CACHE_SCAN_MAX) {
        exhausted = false;
        break;
      }
      scanned++;
      last = it->first;
      if (it->second.known) probes->push_back({it->first, 0, 0});
    }
    if (!probes->empty() || !exhausted) {
      // The store's figures of these objects, on a store thread; the cache's when answering.
      std::string next = exhausted ? STORE_PHASE : idCursor(last);
      BackingStore &store = store_;
      worker_.submit([&store, probes] {
                       store.probeAll(*probes);
                       return 0;
                     },
                     [this, probes, next, done](int) {
                       ListPage page;
                       page.next = next;
                       for (const ProbedObject &p : *probes) {
                         if (p.found < 0) {
                           ListPage none;
                           return done(p.found, none);
                         }
                         auto e = objects_.find(p.id);
                         bool known = e != objects_.end() && e->second.known;
                         if (!known && p.found == 0) continue;  // deleted meanwhile
                         page.entries.emplace_back();
                         fillStat(page.entries.back(), p.id, p.found > 0, p.size);
                       }
                       done(0, page);
                     });
      return 0;
    }
    // The cache holds nothing more: the store's phase from its start, in this request.
  } else if (startsWith(req.cursor, STORE_PHASE)) {
    position = req.cursor.substr(2);
  } else {
    return -EINVAL;
  }
  StorePageKey key{position, req.filterHigh, req.high, max};
  for (auto it = listAhead_.begin(); it != listAhead_.end(); ++it) {
    std::shared_ptr<StorePageAhead> ahead = *it;
    if (!(ahead->key == key)) continue;
    listAhead_.erase(it);
    if (!ahead->ready) {
      ahead->waiter = std::move(done);  // answered when it is in
      return 0;
    }
    if (std::chrono::steady_clock::now() - ahead->readAt < LIST_AHEAD_FRESH) {
      answerStorePage(ahead->page, ahead->ret, key, done);
      return 0;
    }
    break;  // stale: read again
  }
  auto got = std::make_shared<StorePage>();
  worker_.submit(readStorePage(key, got), [this, got, key, done](int ret) { answerStorePage(got, ret, key, done); });
  return 0;
}

void SegmentCache::answerStorePage(const std::shared_ptr<StorePage> &got, int ret, const StorePageKey &key,
                                   const ListDone &done) {
  ListPage page;
  if (ret < 0) return done(ret, page);
  page.fromStore = true;
  page.end = got->end;
  if (!got->end) {
    page.next = STORE_PHASE + got->next;
    readStorePageAhead(key.at(got->next));
  }
  for (const StoredObject &o : got->objects) {
    page.entries.emplace_back();
    fillStat(page.entries.back(), o.id, true, o.size);
  }
  done(0, page);
}

void SegmentCache::readStorePageAhead(const StorePageKey &key) {
  auto ahead = std::make_shared<StorePageAhead>();
  ahead->key = key;
  ahead->page = std::make_shared<StorePage>();
  listAhead_.push_back(ahead);
  if (listAhead_.size() > LIST_AHEAD_MAX) listAhead_.pop_front();  // still read; nobody waits for it
  worker_.submit(readStorePage(key, ahead->page), [this, ahead](int ret) {
    ahead->ret = ret;
    ahead->ready = true;
    ahead->readAt = std::chrono::steady_clock::now();
    if (ahead->waiter) {
      ListDone done = std::move(ahead->waiter);
      answerStorePage(ahead->page, ret, ahead->key, done);
    }
  });
}

// --- delete ---

bool SegmentCache::deleting(const ObjectId &id) const {
  auto it = objects_.find(id);
  return it != objects_.end() && it->second.deleting;
}

void SegmentCache::dropDrains(Object &obj) {
  if (!obj.drainQueued) return;
  obj.drainQueued = false;
  drainQueue_.erase(std::remove(drainQueue_.begin(), drainQueue_.end(), &obj), drainQueue_.end());
  deferredDrains_.erase(std::remove_if(deferredDrains_.begin(), deferredDrains_.end(),
                                       [&](const std::pair<std::chrono::steady_clock::time_point, Object *> &d) {
                                         return d.second == &obj;
                                       }),
                        deferredDrains_.end());
}

int SegmentCache::startDelete(const ObjectId &id, std::function<void(int)> done) {
  pruneIdle();
  Object *o = nullptr;
  if (int ret = lookup(id, o)) return ret;  // kBusy while its stat runs
  Object &obj = *o;
  if (obj.deleting || obj.cowing || obj.jobRunning || !obj.jobs.empty() || obj.inPlaceWrites > 0 || obj.cowReaders > 0)
    return kBusy;
  for (const auto &kv : obj.segments) {
    const Segment *seg = kv.second;
    if (seg->inUse()) return kBusy;
  }
  if (!obj.known) {
    idle_.push_back(id);  // a stat entry only: forgotten (as absent) by the next prune
    return -ENOENT;
  }
  std::unique_ptr<DeleteJob> job(new DeleteJob);
  if (memory_.durable()) {
    uint64_t seq;
    int slot = memory_.writeTombstone(id, seq);
    if (slot == -EBUSY) return kBusy;  // as many deletes under way as tombstone slots
    if (slot < 0) return slot;
    job->tombstone = slot;
  }
  obj.deleting = true;
  dropDrains(obj);  // its dirty data goes with it
  for (auto &kv : obj.segments) {
    kv.second->pins++;
    job->held.push_back(kv.second);
  }
  job->done = std::move(done);
  enqueue(obj, std::move(job));
  return 0;
}

void SegmentCache::deleteDone(Object &obj, DeleteJob &d, int ret) {
  obj.deleting = false;
  if (ret < 0) {
    // The store still has the object (a remove either happens or not) and the cache kept it.
    log(LOG_ERROR, "cache", "delete of object %s: the store %s refused the remove: %s (the object stays)",
        objectLabel(obj.id).c_str(), store_.describe().c_str(), strerror(-ret));
    std::vector<Piece> unpin;
    for (Segment *seg : d.held) unpin.push_back({nullptr, 0, nullptr, seg});
    bool dirty = false;
    for (Segment *seg : d.held) dirty |= seg->dirty();
    release(unpin);
    if (writeBehind_ && dirty) wantDrain(obj);
    if (d.tombstone >= 0) memory_.clearTombstone(d.tombstone);
    return;
  }
  // The store object is gone (durably): the segments and their records go, then the tombstone.
  for (Segment *seg : d.held) seg->pins--;
  std::vector<Segment *> all;
  for (auto &kv : obj.segments) all.push_back(kv.second);  // the held ones (accesses waited)
  for (Segment *seg : all) {
    markClean(*seg);
    drop(seg);
  }
  obj.known = false;
  obj.size = 0;
  obj.inStore.learn(false, 0);
  obj.statted = true;
  obj.statError = 0;
  if (d.tombstone >= 0) memory_.clearTombstone(d.tombstone);
  log(LOG_DEBUG, "cache", "deleted object %s (%zu cached segments, and from the store %s)", objectLabel(obj.id).c_str(),
      all.size(), store_.describe().c_str());
}

void SegmentCache::completeDelete(const Tombstone &t, std::vector<RecoveredSegment> &found) {
  int ret = store_.remove(t.id);
  if (ret < 0) {
    // Its records are still there and the store kept the object: it stays whole.
    log(LOG_ERROR, "cache", "a delete of object %s cut off by a crash cannot be completed (the store %s refuses the "
        "remove: %s): the object stays as it was", objectLabel(t.id).c_str(), store_.describe().c_str(), strerror(-ret));
    memory_.clearTombstone(t.slot);
    return;
  }
  size_t dropped = 0;
  for (auto it = found.begin(); it != found.end();) {
    if (it->record.id == t.id && it->seq < t.seq) {
      memory_.release(it->slot);
      it = found.erase(it);
      dropped++;
    } else {
      ++it;
    }
  }
  memory_.clearTombstone(t.slot);
  log(LOG_INFO, "cache", "completed the delete of object %s cut off by a crash: removed from the store %s, %zu "
      "cached segments dropped", objectLabel(t.id).c_str(), store_.describe().c_str(), dropped);
}

}  // namespace server
}  // namespace ioc
