// The fault path of a mapping: a fault on a segment plans a load (a growing read-ahead window
// for sequential faults), makes room under the policy's quota, then fills the segment from the
// driver (on this thread, or through the read-ahead readers for drivers with latency) and wakes
// the faulting threads. A segment the driver cannot read SIGBUSes the faulting thread.
#include "client/call_deadline.h"
#include "mapping.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "mapping_internal.h"
#include "read_ahead.h"
#include "segment_filler.h"
#include "test_gate.h"
#include "uffd_abi.h"

namespace ummap {
using namespace detail;

void Mapping::handleFault(uintptr_t address, uint64_t flags, uint32_t tid) {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t offset = address - reinterpret_cast<uintptr_t>(base_);
  size_t pageOffset = offset & ~(kPageSize - 1);
  if (closed_ || offset >= mappedLength_) return;
  // A page an asynchronous write-back moved out (mapping_moved_runs.cc): copied back.
  if (!pendingJobs_.empty() && serveMovedPage(pageOffset)) return;
  size_t seg = offset / options_.segmentSize;
  if (flags & UFFD_PAGEFAULT_FLAG_WP) {
    // A write to a protected page (FaultWpTracker). If the segment was dropped meanwhile, the
    // writer retries and takes a missing fault instead.
    // A page a reader just installed (kReading) is present too: its segment is loaded in a moment.
    if (loaded(seg) || readAheadState_[seg] == kReading) {
      stats_.writeFaults++;
      dirty_->onWriteFault(pageOffset);
      return;
    }
    // Not loaded: dropped meanwhile (the page is gone), or pieces of a read-ahead that failed
    // later on (the page is present): load the segment as a missing fault would (present pages
    // are skipped), which records the write.
  }
  if (loaded(seg)) {  // another thread's fault on the same segment was served first
    ctx_.wake(base_ + seg * options_.segmentSize, segmentBytes(seg));
    return;
  }
  stats_.faults++;
  bool inWindow = readAheadState_[seg] != kIdle;
  if (inWindow) {
    if (readAheadState_[seg] == kReading || !readAheadTakeBack(this, seg)) {
      // A reader has it: its install wakes this thread. The scan reached the window: move it on.
      queueReadAhead(seg, planLoad(seg, true));
      return;
    }
    readAheadState_[seg] = kIdle;  // still queued: taken back, read here at once
    readAheadInFlight_--;
  }
  size_t count = planLoad(seg, inWindow);
  if (count == 1 && readAheadInFlight_ > 0) cancelReadAhead();  // random access now
  if (pipelined(seg)) {
    // The faulting segment first, on this thread; then the window goes to the readers.
    makeRoom(segmentBytes(seg));
    loadSegments(seg, 1, flags, pageOffset, tid);
    queueReadAhead(seg, count);
    return;
  }
  size_t bytes = 0;
  for (size_t i = seg; i < seg + count; i++) bytes += segmentBytes(i);
  makeRoom(bytes);
  loadSegments(seg, count, flags, pageOffset, tid);
}

// Sequential faults (the next segment, or one the read-ahead window holds) grow a read-ahead
// window (doubling up to readAheadMax): fewer faults and wake-ups, which cost far more than the
// bytes. Random faults load one segment.
size_t Mapping::planLoad(size_t seg, bool inWindow) {
  const size_t S = options_.segmentSize;
  // With readers, the window holds one segment per reader beside the one the scan waits for.
  size_t most = options_.readAheadMax ? std::max<size_t>(options_.readAheadMax, (readers() + 1) * S) : 0;
  if ((seg == nextSequential_ || inWindow) && most > 0)
    readAhead_ = std::min(most, readAhead_ ? readAhead_ * 2 : std::max<size_t>(S, 1 << 20));
  else
    readAhead_ = 0;
  size_t extra = (readAhead_ + S - 1) / S;
  // Under a memory limit, read-ahead must not evict what is being used.
  if (options_.policy) extra = std::min(extra, options_.policy->limit() / 4 / S);
  size_t count = 1;
  while (count <= extra && seg + count < segmentCount() && !loaded(seg + count)) count++;
  return count;
}

// Drivers with latency (ioc, file) read ahead on the reader pool; zeros (noFirstRead) and
// in-memory stores are installed from this thread.
bool Mapping::pipelined(size_t seg) const {
  return readers() > 0 && !(options_.noFirstRead && !everLoaded_[seg]);
}

// Queue the idle segments of [seg+1, seg+count) for the readers, at most the window's count in
// flight. Room is made now for what they will install (the policy's limit holds up to what is
// in flight).
void Mapping::queueReadAhead(size_t seg, size_t count) {
  nextSequential_ = std::max(nextSequential_ == SIZE_MAX ? 0 : nextSequential_, seg + count);
  std::vector<size_t> queue;
  size_t bytes = 0;
  for (size_t k = seg + 1; k < seg + count && readAheadInFlight_ + queue.size() < count - 1; k++) {
    if (loaded(k) || readAheadState_[k] != kIdle || !pipelined(k)) continue;
    queue.push_back(k);
    bytes += segmentBytes(k);
  }
  if (queue.empty()) return;
  makeRoom(bytes);
  unsigned readers = this->readers();
  for (size_t k : queue) {
    readAheadState_[k] = kQueued;
    readAheadInFlight_++;
    readAheadSubmit(shared_from_this(), k, readers);
  }
}

void Mapping::cancelReadAhead() {
  for (size_t k : readAheadCancel(this)) {
    readAheadState_[k] = kIdle;
    readAheadInFlight_--;
  }
}

void Mapping::readAheadRun(size_t seg) {
  const size_t S = options_.segmentSize;
  std::shared_ptr<StorageDriver> driver;
  uint64_t driverGeneration;
  size_t mapped, stored;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_ || readAheadState_[seg] != kQueued) return;  // taken back (a fault read it) or cancelled
    readAheadState_[seg] = kReading;
    driver = driver_;
    driverGeneration = driverGeneration_;
    mapped = segmentBytes(seg);
    stored = storageBytes(seg);
  }
  // Read and install in pieces: a piece is still in the CPU cache when it is copied, and the
  // buffer is one piece per reader thread (read_ahead.cc).
  const size_t piece = std::min(mapped, kReadAheadPiece);
  const uint64_t at0 = options_.storageOffset + seg * S;
  long got = 0, read = 0;
  int copyError = 0;
  bool dropped = false;
  uint8_t* buffer = nullptr;
  try {
    buffer = readAheadBuffer(piece);
  } catch (const std::bad_alloc&) {
    got = -ENOMEM;
  }
  testReadAheadPoint(seg, kBeforeRead);
  for (size_t at = 0; buffer && at < mapped; at += piece) {
    size_t n = std::min(piece, mapped - at), want = at < stored ? std::min(n, stored - at) : 0;
    got = want ? driver->read(buffer, want, at0 + at) : 0;
    if (at + n >= mapped) testReadAheadPoint(seg, kAfterRead, &got);  // the last piece
    if (got < 0) break;
    read += got;
    memset(buffer + got, 0, n - got);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      // Unmapped (the range is gone) or switched meanwhile: drop the rest.
      if ((dropped = closed_ || driverGeneration != driverGeneration_)) break;
      installing_++;  // unmap waits for it: the copy must not land in a range munmap may hand out again
    }
    int ret = ctx_.copy(base_ + seg * S + at, buffer, n, !options_.readOnly);
    if (ret < 0) copyError = ret;
    if (at + n >= mapped) testReadAheadPoint(seg, kInstalled);
    std::lock_guard<std::mutex> lock(mutex_);
    if (--installing_ == 0) installed_.notify_all();
  }

  std::lock_guard<std::mutex> lock(mutex_);
  readAheadState_[seg] = kIdle;
  readAheadInFlight_--;
  if (closed_) return;
  stats_.bytesRead += read;
  if (got < 0 || dropped) {
    if (got < 0) stats_.ioErrors++;
    // Threads waiting on it fault again and read it themselves: a read-ahead error surfaces only
    // on a page that needs the segment, through the fault path's retries and SIGBUS. Pieces
    // already installed stay; that load skips them.
    ctx_.wake(base_ + seg * S, mapped);
    return;
  }
  if (copyError < 0) stats_.ioErrors++;
  if (!unsynced_.empty()) noticeEpoch(seg, seg + 1);
  recordLoaded(seg, mapped, true);
}

void Mapping::recordLoaded(size_t seg, size_t bytes, bool readAhead) {
  uint64_t gen = ++loadCounter;
  generation_[seg].store(gen, std::memory_order_release);
  everLoaded_[seg] = 1;
  stats_.segmentsLoaded++;
  if (readAhead) stats_.readAheadSegments++;
  stats_.residentBytes += bytes;
  if (options_.policy) options_.policy->onLoaded(shared_from_this(), seg, gen, bytes);
}

void Mapping::makeRoom(size_t bytes) {
  if (!options_.policy) return;
  std::vector<Victim> victims;
  options_.policy->chooseVictims(bytes, victims);
  for (auto& v : victims) {
    if (v.mapping.get() == this) {
      if (isResident(v.segment, v.generation) && evictLocked(v.segment) == 1)
        options_.policy->requeue(v.mapping, v.segment, v.generation, segmentBytes(v.segment));
    } else {
      // Only this (handler) thread ever holds two mapping locks: no lock-order cycle.
      v.mapping->evictForPolicy(v.segment, v.generation);
    }
  }
}

void Mapping::evictForPolicy(size_t segment, uint64_t generation) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!closed_ && isResident(segment, generation) && evictLocked(segment) == 1 && options_.policy)
    options_.policy->requeue(shared_from_this(), segment, generation, segmentBytes(segment));
}

void Mapping::loadSegments(size_t first, size_t count, uint64_t faultFlags, size_t faultPage, uint32_t tid) {
  const size_t S = options_.segmentSize;
  const bool wp = !options_.readOnly;
  size_t i = first;
  while (i < first + count) {
    // The faulting segment goes alone so its thread resumes at once; read-ahead follows in
    // batches of whole segments (one driver read + one UFFDIO_COPY each).
    bool zeros = options_.noFirstRead && !everLoaded_[i];
    size_t j = i + 1, mapped = segmentBytes(i), stored = storageBytes(i);
    if (i != first) {
      while (j < first + count && (options_.noFirstRead && !everLoaded_[j]) == zeros && mapped + segmentBytes(j) <= std::max(kFillChunk, S)) {
        mapped += segmentBytes(j);
        stored += storageBytes(j);
        j++;
      }
    }
    FillRequest req{base_ + i * S, mapped, options_.storageOffset + i * S, stored, zeros, wp};
    // The faulting segment's reads (retries and reconnects included) end within the fault
    // timeout, counted from the first attempt: each driver call is cut at the fault's deadline.
    auto start = std::chrono::steady_clock::now();
    auto deadline = start + std::chrono::milliseconds(options_.faultTimeoutMs);
    std::unique_ptr<ioc::client::ScopedCallDeadline> bounded;
    if (i == first) bounded.reset(new ioc::client::ScopedCallDeadline(deadline));
    FillResult res = fillRange(*driver_, ctx_, req);
    if (res.readFailed && i != first) {  // read-ahead: leave it for a later fault to retry
      stats_.ioErrors++;
      break;
    }
    if (res.readFailed) {
      // The faulting segment: retry with back-off until the timeout, then SIGBUS (the thread
      // stays blocked meanwhile; so does this mapping's lock).
      auto pause = std::chrono::milliseconds(50);
      while (res.readFailed) {
        stats_.ioErrors++;
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline) {
          raiseSigbus(first, faultPage, res.error, tid,
                      (unsigned)std::chrono::duration_cast<std::chrono::milliseconds>(now - start).count());
          return;
        }
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(pause, deadline - now));
        pause = std::min(pause * 2, std::chrono::milliseconds(1000));
        res = fillRange(*driver_, ctx_, req);
      }
    }
    bounded.reset();
    stats_.bytesRead += res.bytesRead;
    if (res.error) stats_.ioErrors++;
    // Read from a restarted server: acknowledged pages of these segments are not in what it sent.
    if (!unsynced_.empty()) noticeEpoch(i, j);
    for (size_t k = i; k < j; k++) recordLoaded(k, segmentBytes(k), k != first);
    // A write fault on a missing page would fault again on the fresh protection: record the
    // write now (FaultWpTracker; WP_ASYNC resolves it in the kernel anyway).
    if (i == first && wp && (faultFlags & UFFD_PAGEFAULT_FLAG_WRITE) && !wpAsync()) dirty_->onWriteFault(faultPage);
    i = j;
  }
  nextSequential_ = first + count;
}

void Mapping::raiseSigbus(size_t seg, uintptr_t faultOffset, int error, uint32_t tid, unsigned elapsedMs) {
  // One line on stderr saying which mapping and why, then SIGBUS to the faulting thread: it is
  // blocked in the fault, the signal interrupts it (default action: the process ends). Were the
  // signal handled and returned from, the access faults again and the cycle repeats.
  fprintf(stderr,
          "ummap: SIGBUS: cannot load segment %zu (mapping offset %zu, address %p) of the mapping of %s "
          "(%zu bytes at %p): %s; retried for %u ms (UMMAP_FAULT_TIMEOUT_MS %u)\n",
          seg, static_cast<size_t>(faultOffset), static_cast<void*>(base_ + faultOffset), driver_->describe().c_str(),
          options_.size, static_cast<void*>(base_), strerror(error < 0 ? -error : error), elapsedMs, options_.faultTimeoutMs);
  fflush(stderr);
  if (tid == 0 || syscall(SYS_tgkill, getpid(), static_cast<pid_t>(tid), SIGBUS) != 0) kill(getpid(), SIGBUS);
}

}  // namespace ummap
