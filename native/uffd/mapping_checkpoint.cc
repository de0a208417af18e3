// Checkpoints of a mapping (src/checkpoint): each version of a region is an object of its own.
// A version is built on the server from the previous one (stage: a server-side copy, made
// between checkpoints while the application computes) plus the pages written since (the
// snapshot of a checkpoint), so only those pages cross the network.
//
// What makes the chain correct: the mapping's store always holds the mapping's content but for
// the dirty pages, and for the pages acknowledged by a server without --nvdimm and not yet
// synced (unsynced_, under ackEpoch_). A copy of the store carries that promise along: the
// re-pointing keeps unsynced_ and ackEpoch_ (a plain switchDriver drops them). When the server
// restarted meanwhile, the copy may miss such pages: the checkpoint then fails (ESTALE) with
// them dirty again, and the next checkpoint's snapshot takes them, as of its own call.
#include <errno.h>
#include <sys/mman.h>

#include <cstdio>
#include <system_error>

#include "mapping.h"
#include "mapping_internal.h"

namespace ummap {
using namespace detail;

namespace {
// The copy of the mapped range of `from` to `to`, server-side (ioc of one server). 0 or -errno.
int copyStore(StorageDriver& from, StorageDriver& to, uint64_t offset, size_t size) {
  int ret = from.copyRangeTo(to, offset, size, true);
  if (ret == 0) return -ENOTSUP;  // not one server: a checkpoint would have to read it all
  return ret < 0 ? ret : 0;
}
}  // namespace

void Mapping::repointLocked(std::shared_ptr<StorageDriver> next) {
  int ret = next->attach(options_.storageOffset, options_.size, !options_.readOnly);
  if (ret < 0) throwErrno(ret, "cannot map " + next->describe());
  driver_->detach();
  driver_ = std::move(next);
  driverGeneration_++;  // read-ahead from the old store in flight is dropped
  staged_.reset();
}

void Mapping::stage(std::shared_ptr<StorageDriver> next) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (closed_) throw std::system_error(EBADF, std::generic_category(), "mapping is unmapped");
  TurnHold turn(*this, lock, nextTurn_++);
  if (closed_) throw std::system_error(EBADF, std::generic_category(), "mapping is unmapped");
  if (next->describe() == driver_->describe()) return;
  staged_.reset();
  // The turn keeps every write-back and re-pointing away; faults go on during the copy.
  std::shared_ptr<StorageDriver> from = driver_;
  lock.unlock();
  int ret = copyStore(*from, *next, options_.storageOffset, options_.size);
  lock.lock();
  if (ret < 0) throwErrno(ret, "stage " + from->describe() + " -> " + next->describe());
  staged_ = std::move(next);
}

Mapping::CheckpointResult Mapping::runCheckpoint(WriteBackJob& job, std::shared_ptr<StorageDriver> dest) {
  std::unique_lock<std::mutex> lock(mutex_);
  TurnHold turn(*this, lock, job.turn, &job);
  MovedPagesReturn back(*this, lock, job);
  if (job.setupError) throwErrno(job.setupError, "snapshot of the dirty pages (they go with the next checkpoint)");
  if (closed_) throw std::system_error(EBADF, std::generic_category(), "mapping is unmapped");
  auto fail = [&](int error, const std::string& what) { failWriteBack(lock, job, error, what); };
  if (dest && dest->describe() != driver_->describe()) {
    if (staged_ && staged_->describe() == dest->describe()) {
      dest = staged_;
    } else {
      std::shared_ptr<StorageDriver> from = driver_;
      lock.unlock();
      int ret = copyStore(*from, *dest, options_.storageOffset, options_.size);
      lock.lock();
      if (ret < 0) fail(ret, "checkpoint copy " + from->describe() + " -> " + dest->describe());
    }
    try {
      repointLocked(dest);
    } catch (const std::system_error& e) {
      fail(-e.code().value(), e.what());
    }
    unsyncedWrites_ = true;
  }
  const std::string where = "checkpoint to " + driver_->describe();
  const char* restarted = ": the server restarted without --nvdimm since pages this version builds on were acknowledged "
                          "(they are dirty again and go with the next checkpoint)";
  uint64_t before = ackEpoch_;
  uint64_t now = noticeEpoch();
  if (lostBytes_) {
    lostBytes_ = 0;
    fail(-EIO, where + ": the server restarted and lost acknowledged pages that are no longer in memory");
  }
  if (before && now != before) fail(-ESTALE, where + restarted);
  FlushCourse course{job.start, job.end, job.offset, job.length, false, job.syncDriver};
  // One round: a restart during it fails the checkpoint instead of writing again (a retry would
  // take the pages it lost from the mapping as they are now, newer than the call).
  course.write = [&] {
    uint64_t epoch = noticeEpoch();
    int ret = writeSnapshotRound(lock, job, epoch);
    if (noticeEpoch() != epoch) fail(-ESTALE, where + ": the server restarted during the checkpoint (its pages are dirty again)");
    return ret;
  };
  course.beforeRetry = [&] { fail(-ESTALE, where + ": the server restarted during the checkpoint's sync"); };
  course.fail = fail;
  course.unlock = &lock;
  runFlushCourse(course);
  if (writeBackFailures_ != job.failuresAtCall)
    throwErrno(-EIO, where + ": an earlier write-back of this mapping failed after this checkpoint was called");
  CheckpointResult result;
  result.epoch = ackEpoch_;
  for (const WritePiece& piece : job.pieces) result.bytesWritten += std::min(piece.length, options_.size - piece.offset);
  return result;
}

void Mapping::reload(std::shared_ptr<StorageDriver> next) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (closed_) throw std::system_error(EBADF, std::generic_category(), "mapping is unmapped");
  TurnHold turn(*this, lock, nextTurn_++);
  if (closed_) throw std::system_error(EBADF, std::generic_category(), "mapping is unmapped");
  // No read-ahead may install the old store's bytes after the drop.
  cancelReadAhead();
  installed_.wait(lock, [&] { return installing_ == 0; });
  repointLocked(std::move(next));
  for (size_t seg = 0; seg < segmentCount(); seg++) {
    if (!loaded(seg)) continue;
    size_t offset = seg * options_.segmentSize, length = segmentBytes(seg);
    madvise(base_ + offset, length, MADV_DONTNEED);
    if (!options_.readOnly) dirty_->forget(offset, length);
    generation_[seg].store(0, std::memory_order_release);
    stats_.residentBytes -= length;
    if (options_.policy) options_.policy->onDropped(length);
  }
  nextSequential_ = SIZE_MAX;
  readAhead_ = 0;
  unsynced_.drain([](size_t, size_t) {});  // the old store's, now dropped
  ackEpoch_ = 0;
  lostBytes_ = 0;
  unsyncedWrites_ = false;
}

}  // namespace ummap
