// Write-back of a mapping: synchronous sync/flush/evict write the dirty pages straight from the
// mapping under its lock; the asynchronous form (snapshotWriteBack, then runWriteBack on another
// thread) takes the dirty pages at the call (large runs moved out of the mapping,
// mapping_moved_runs.cc; small ones copied) and writes them, several pieces in flight, in call
// order (turns). Both repeat a round when the store restarted meanwhile.
#include "mapping.h"
#include "notices.h"

#include <errno.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <system_error>
#include <thread>

#include "fault_reader.h"
#include "mapping_internal.h"
#include "test_gate.h"
#include "write_pool.h"

namespace ummap {
using namespace detail;

int Mapping::untilStoreSteady(const std::function<int(uint64_t)>& round, const std::function<void()>& beforeRetry) {
  for (int attempt = 0; attempt < kStoreRestartAttempts; attempt++) {
    uint64_t before = noticeEpoch();
    int ret = round(before);
    if (noticeEpoch() == before) return ret;
    beforeRetry();
  }
  return -EIO;
}

void Mapping::runFlushCourse(const FlushCourse& c) {
  for (int attempt = 1;; attempt++) {
    int ret = c.write();
    if (ret < 0) c.fail(ret, "write back to " + driver_->describe());
    if (c.evict) {
      for (size_t seg = c.start / options_.segmentSize; seg * options_.segmentSize < c.end; seg++) {
        if (!loaded(seg)) continue;
        ret = evictLocked(seg);
        if (ret < 0) c.fail(ret, "evict to " + driver_->describe());
      }
    }
    if (!c.syncDriver || !unsyncedWrites_) return;
    uint64_t epoch = noticeEpoch();
    std::shared_ptr<StorageDriver> driver = driver_;
    if (c.unlock) c.unlock->unlock();
    ret = driver->sync(options_.storageOffset + c.offset, c.length);
    if (c.unlock) c.unlock->lock();
    stats_.driverSyncs++;
    if (noticeEpoch() != epoch) {
      // What the restarted store acknowledged before is written again.
      if (attempt < kStoreRestartAttempts) {
        c.beforeRetry();
        continue;
      }
      c.fail(-EIO, "sync " + driver_->describe() + ": the server restarted during every attempt");
    }
    if (ret < 0) throwErrno(ret, "sync " + driver_->describe());
    unsynced_.remove(c.start, c.end - c.start);  // in the store now
    if (c.offset == 0 && c.length == options_.size) unsyncedWrites_ = false;
    return;
  }
}

int Mapping::writeBackLocked(size_t offset, size_t length) {
  if (options_.readOnly || length == 0) return 0;
  return untilStoreSteady([&](uint64_t epoch) { return writeBackRound(offset, length, epoch); }, [] {});
}

// Under mutex_, which stays held: the pieces are written from the mapping itself.
int Mapping::writeBackRound(size_t offset, size_t length, uint64_t epoch) {
  std::vector<PageRun> runs;
  int ret = dirty_->collect(offset, length, runs);
  if (ret < 0) return ret;
  std::vector<WritePiece> pieces;
  for (const PageRun& run : runs)
    if (run.offset < options_.size) cutIntoPieces(run.offset, run.length, base_ + run.offset, pieceBytes(), pieces);
  writePieces(pieces, parallelism(), [&](size_t index, int result) { pieces[index].result = result; });
  for (const WritePiece& piece : pieces) {
    if (piece.result == 0) {
      accountWritten(piece, epoch);
      continue;
    }
    // Keep the pieces not written dirty so that a later sync retries them.
    dirty_->markDirty(piece.offset, piece.length);
    if (piece.result < 0) {
      stats_.ioErrors++;
      if (ret == 0) ret = piece.result;
    }
  }
  return ret;
}

void Mapping::writePieces(const std::vector<WritePiece>& pieces, unsigned parallelism, const std::function<void(size_t, int)>& done) {
  StorageDriver& driver = *driver_;  // turns keep switchDriver away meanwhile
  // Groups of pieces still to write, each one driver call: small pieces (scattered dirty pages)
  // together, up to the driver's gatherBytes(); a larger piece alone.
  const size_t gather = driver.gatherBytes();
  std::vector<std::pair<size_t, size_t>> groups;  // [first, last] indices into todo
  std::vector<size_t> todo;
  for (size_t i = 0; i < pieces.size(); i++)
    if (pieces[i].result != 0) todo.push_back(i);
  for (size_t k = 0, bytes = 0; k < todo.size(); k++) {
    size_t len = pieces[todo[k]].length;
    bool joins = !groups.empty() && len <= gather && bytes + len <= gather;
    if (joins) {
      groups.back().second = k;
      bytes += len;
    } else {
      groups.push_back({k, k});
      bytes = len;
    }
  }
  // Gathered groups are small messages: more of them in flight (unless one at a time was asked
  // for, or the parallelism was set by the user).
  bool gathered = std::any_of(groups.begin(), groups.end(), [](const std::pair<size_t, size_t>& g) { return g.second > g.first; });
  if (gathered && parallelism > 1 && !options_.tunables.writeParallelism)
    parallelism = std::max(parallelism, driver.gatherParallelism());
  std::atomic<bool> failed{false};
  runInParallel(groups.size(), parallelism, [&](size_t g) {
    if (failed.load()) return;  // stays 1: not written
    auto [first, last] = groups[g];
    int result;
    if (first == last) {
      const WritePiece& piece = pieces[todo[first]];
      size_t n = std::min(piece.length, options_.size - piece.offset);
      ssize_t w = driver.write(piece.source, n, options_.storageOffset + piece.offset);
      result = w == static_cast<ssize_t>(n) ? 0 : w < 0 ? static_cast<int>(w) : -EIO;
    } else {
      std::vector<StorageDriver::Piece> batch;
      for (size_t k = first; k <= last; k++) {
        const WritePiece& piece = pieces[todo[k]];
        batch.push_back({piece.source, std::min(piece.length, options_.size - piece.offset), options_.storageOffset + piece.offset});
      }
      result = driver.writeGathered(batch.data(), batch.size());
    }
    if (result < 0) failed = true;
    for (size_t k = first; k <= last; k++) done(todo[k], result);
  });
}

void Mapping::accountWritten(const WritePiece& piece, uint64_t epoch) {
  staged_.reset();  // the store changed since the staged copy was made
  stats_.bytesWritten += std::min(piece.length, options_.size - piece.offset);
  stats_.writeBacks++;
  unsyncedWrites_ = true;
  if (epoch) unsynced_.add(piece.offset, piece.length);
  else if (driver_->volatileEpoch()) {
    // The first handshake with a volatile server happened during this write: track it too
    // (the caller's check sees the epoch change and writes the piece again).
    markDirtyResident(piece.offset, piece.length);
  }
}

uint64_t Mapping::noticeEpoch(size_t untrustedFirst, size_t untrustedEnd) {
  uint64_t now = driver_->volatileEpoch();
  if (now == ackEpoch_) return now;
  uint64_t redirtied = 0, lost = 0;
  const size_t S = options_.segmentSize;
  unsynced_.drain([&](size_t offset, size_t length) {
    // Split at segment boundaries: residency is per segment.
    for (size_t at = offset; at < offset + length;) {
      size_t seg = at / S;
      size_t n = std::min(offset + length, (seg + 1) * S) - at;
      bool trusted = loaded(seg) && (seg < untrustedFirst || seg >= untrustedEnd);
      if (trusted) {
        markDirtyResident(at, n);
        redirtied += n;
      } else if (at < options_.size) {
        lost += std::min(n, options_.size - at);
      }
      at += n;
    }
  });
  if (redirtied || lost) {
    char text[160];
    snprintf(text, sizeof text, " restarted (epoch %016llx -> %016llx): %llu acknowledged bytes to write again, %llu lost",
             (unsigned long long)ackEpoch_, (unsigned long long)now, (unsigned long long)redirtied, (unsigned long long)lost);
    postNotice(lost ? "IOC_PAGES_LOST" : "IOC_SERVER_RESTARTED", "ummap: " + driver_->describe() + text);
  }
  lostBytes_ += lost;
  ackEpoch_ = now;
  return now;
}

void Mapping::reportLostBytes() {
  if (!lostBytes_) return;
  uint64_t lost = lostBytes_;
  lostBytes_ = 0;  // reported once, as fsync reports a lost write-back
  throw std::system_error(EIO, std::generic_category(),
                          driver_->describe() + " restarted and lost " + std::to_string(lost) +
                              " acknowledged bytes that were no longer in memory (written back, evicted, not yet synced)");
}

// Write back, then drop the pages so that the next touch faults and reloads the segment.
int Mapping::evictLocked(size_t seg) {
  size_t offset = seg * options_.segmentSize, length = segmentBytes(seg);
  // Its copy must land before the current content, which this eviction would write now.
  if (snapshotPending(seg)) return 1;
  int ret = writeBackLocked(offset, length);
  if (ret < 0) return ret;  // keep the data resident rather than lose it
  madvise(base_ + offset, length, MADV_DONTNEED);
  if (!options_.readOnly) dirty_->forget(offset, length);
  generation_[seg].store(0, std::memory_order_release);
  stats_.evictions++;
  stats_.residentBytes -= length;
  if (options_.policy) options_.policy->onDropped(length);
  return 0;
}

// Also while a job's moved pages are not back.
bool Mapping::snapshotPending(size_t seg) const {
  size_t from = seg * options_.segmentSize, to = from + segmentBytes(seg);
  for (const WriteBackJob* job : pendingJobs_)
    if (job->unwrittenIn(from, to)) return true;
  return false;
}

void Mapping::flush(size_t offset, size_t length, bool syncDriver, bool evict) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (closed_) throw std::system_error(EBADF, std::generic_category(), "mapping is unmapped");
  TurnHold turn(*this, lock, nextTurn_++);
  if (closed_) throw std::system_error(EBADF, std::generic_category(), "mapping is unmapped");
  flushLocked(offset, length, syncDriver, evict);
}

std::shared_ptr<WriteBackJob> Mapping::snapshotWriteBack(size_t offset, size_t length, bool syncDriver, bool evict) {
  auto job = std::make_shared<WriteBackJob>();
  std::unique_lock<std::mutex> lock(mutex_);
  movedOut_.wait(lock, [&] { return !movingOut_; });  // one snapshot between collect and move at a time
  if (closed_) throw std::system_error(EBADF, std::generic_category(), "mapping is unmapped");
  job->offset = std::min(offset, options_.size);
  job->length = std::min(length, options_.size - job->offset);
  job->start = job->offset & ~(kPageSize - 1);
  job->end = std::min(roundUp(job->offset + job->length, kPageSize), mappedLength_);
  job->syncDriver = syncDriver;
  job->evict = evict;  // an eviction drops the pages after writing them: copied, never moved
  bool moving = !options_.readOnly && job->length > 0 && copyDirty(*job, !evict && movesSnapshots());
  // The turn is taken once nothing can throw any more: turns are never skipped. (A move that
  // fails later makes the pages dirty again and sets job->setupError for runWriteBack.)
  job->turn = nextTurn_++;
  job->failuresAtCall = writeBackFailures_;
  pendingJobs_.push_back(job.get());  // from here evictions leave the listed runs alone
  if (moving) {
    // mremap needs the fault reader held (fault_reader.h), taken without the lock.
    movingOut_ = true;
    lock.unlock();
    FaultsHeld held;
    lock.lock();
    moveOut(*job);
    movingOut_ = false;
    movedOut_.notify_all();
  }
  return job;
}

// Take the dirty pages of the job's range (now write-protected again): runs of at least
// $UMMAP_SNAPSHOT_MOVE_MIN_BYTES (2 MiB) are listed to be moved when mayMove (at most 64, the
// largest: each splits the mapping's VMA for a while), the others copied now.
bool Mapping::copyDirty(WriteBackJob& job, bool mayMove) {
  std::vector<PageRun> runs;
  int ret = dirty_->collect(job.start, job.end - job.start, runs);
  if (ret < 0) throwErrno(ret, "dirty page scan");
  std::vector<PageRun> toCopy;
  if (mayMove) {
    const size_t moveMin = roundUp(options_.tunables.moveMinBytes, kPageSize);
    constexpr size_t kMostMoved = 64;
    std::vector<PageRun> large;
    for (const PageRun& run : runs) (run.length >= moveMin ? large : toCopy).push_back(run);
    std::sort(large.begin(), large.end(), [](const PageRun& a, const PageRun& b) { return a.length > b.length; });
    for (size_t i = 0; i < large.size(); i++) {
      if (i >= kMostMoved) toCopy.push_back(large[i]);
      else {
        MovedRun run;
        run.offset = large[i].offset;
        run.length = large[i].length;
        job.moved.push_back(std::move(run));
      }
    }
  } else {
    toCopy = std::move(runs);
  }
  try {
    copyRuns(job, toCopy);
  } catch (...) {
    for (const PageRun& run : toCopy) dirty_->markDirty(run.offset, run.length);
    for (const MovedRun& run : job.moved) dirty_->markDirty(run.offset, run.length);
    job.moved.clear();
    throw;
  }
  return !job.moved.empty();
}

// Copy runs into a snapshot buffer (throws when it cannot be allocated; nothing changed then).
void Mapping::copyRuns(WriteBackJob& job, const std::vector<PageRun>& runs) {
  size_t total = 0;
  for (const PageRun& run : runs) total += run.length;
  if (total == 0) return;
  std::unique_ptr<SnapshotBuffer> copy;
  if (spareCopy_ && spareCopy_->size() >= total) copy = std::move(spareCopy_);
  else if (!(copy = takeSpareSnapshot(total))) copy = std::make_unique<SnapshotBuffer>(total);
  // The caller waits for the copy (it is the snapshot): spread it over threads in ~4 MiB steps,
  // which also spreads the page faults of a fresh buffer over CPUs.
  struct Step {
    uint8_t* to;
    const uint8_t* from;
    size_t length;
  };
  constexpr size_t kCopyStep = size_t{4} << 20;
  std::vector<Step> steps;
  size_t at = 0;
  for (const PageRun& run : runs) {
    for (size_t done = 0; done < run.length; done += kCopyStep)
      steps.push_back({copy->data() + at + done, base_ + run.offset + done, std::min(kCopyStep, run.length - done)});
    if (run.offset < options_.size) cutIntoPieces(run.offset, run.length, copy->data() + at, pieceBytes(), job.pieces);
    at += run.length;
  }
  static const unsigned copyThreads = std::max(1u, std::min(4u, std::thread::hardware_concurrency()));
  runInParallel(steps.size(), steps.size() > 1 ? copyThreads : 1, [&](size_t i) { streamCopy(steps[i].to, steps[i].from, steps[i].length); });
  job.copies.push_back(std::move(copy));
  stats_.snapshotCopiedBytes += total;
}

void Mapping::runWriteBack(WriteBackJob& job) {
  std::unique_lock<std::mutex> lock(mutex_);
  TurnHold turn(*this, lock, job.turn, &job);
  MovedPagesReturn back(*this, lock, job);
  if (job.setupError) throwErrno(job.setupError, "snapshot of the dirty pages (they go with the next write-back)");
  if (closed_) throw std::system_error(EBADF, std::generic_category(), "mapping is unmapped");
  FlushCourse course{job.start, job.end, job.offset, job.length, job.evict, job.syncDriver};
  course.write = [&] { return writeSnapshot(lock, job); };
  course.beforeRetry = [&] { restartSnapshot(job); };
  course.fail = [&](int error, const std::string& what) { failWriteBack(lock, job, error, what); };
  course.unlock = &lock;  // faults go on during the sync
  runFlushCourse(course);
  if (writeBackFailures_ != job.failuresAtCall)
    throwErrno(-EIO, "write back to " + driver_->describe() +
                         ": an earlier write-back of this mapping failed after this one was called (its pages are dirty "
                         "again and go with the next sync)");
  reportLostBytes();
}

int Mapping::writeSnapshot(std::unique_lock<std::mutex>& lock, WriteBackJob& job) {
  return untilStoreSteady([&](uint64_t epoch) { return writeSnapshotRound(lock, job, epoch); },
                          [&] { restartSnapshot(job); });
}

int Mapping::writeSnapshotRound(std::unique_lock<std::mutex>& lock, WriteBackJob& job, uint64_t epoch) {
  std::shared_ptr<StorageDriver> keep = driver_;
  unsigned inFlight = testGateArmed() ? 1 : parallelism();
  int error = 0;
  size_t written = 0;
  lock.unlock();  // faults and evictions go on meanwhile; evictions leave unwritten pieces alone
  try {
    writePieces(job.pieces, inFlight, [&](size_t index, int result) {
      size_t count;
      {
        std::lock_guard<std::mutex> relock(mutex_);
        WritePiece& piece = job.pieces[index];
        piece.result = result;
        if (result < 0) {
          stats_.ioErrors++;
          if (error == 0) error = result;
          return;
        }
        accountWritten(piece, epoch);
        count = ++written;
      }
      testGateAfterPiece(count);
    });
  } catch (...) {
    lock.lock();
    throw;
  }
  lock.lock();
  return error;
}

// The store restarted: write the whole snapshot again, and what it lost that is not in the
// snapshot (noticeEpoch made it dirty again) from the mapping as it is now, copied.
void Mapping::restartSnapshot(WriteBackJob& job) {
  for (WritePiece& piece : job.pieces) piece.result = 1;
  copyDirty(job, false);
}

void Mapping::failWriteBack(std::unique_lock<std::mutex>& lock, WriteBackJob& job, int error, const std::string& what) {
  // What this snapshot did not write goes with the next write-back, from the mapping's content
  // (moved pages first go back: marking them dirty needs them in the mapping).
  returnMovedPages(lock, job);
  for (WritePiece& piece : job.pieces)
    if (piece.result != 0) dirty_->markDirty(piece.offset, piece.length);
  for (WritePiece& piece : job.pieces) piece.result = 0;  // nothing left to keep resident for
  writeBackFailures_++;
  throwErrno(error, what);
}

void Mapping::flushLocked(size_t offset, size_t length, bool syncDriver, bool evict) {
  if (offset >= options_.size) return;
  length = std::min(length, options_.size - offset);
  size_t start = offset & ~(kPageSize - 1);
  size_t end = std::min(roundUp(offset + length, kPageSize), mappedLength_);
  FlushCourse course{start, end, offset, length, evict, syncDriver};
  course.write = [&] { return writeBackLocked(start, end - start); };
  course.beforeRetry = [] {};
  course.fail = [](int error, const std::string& what) { throwErrno(error, what); };
  runFlushCourse(course);
  reportLostBytes();
}

}  // namespace ummap
