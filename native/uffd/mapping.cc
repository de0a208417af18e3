#include "mapping.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include <algorithm>
#include <stdexcept>
#include <system_error>

#include "fault_reader.h"
#include "read_ahead.h"
#include "segment_filler.h"
#include "test_gate.h"
#include "uffd_abi.h"
#include "write_pool.h"

namespace ummap {
namespace {

std::atomic<uint64_t> loadCounter{0};  // generations: unique per load, never 0

constexpr size_t kFillChunk = 2 << 20;  // read-ahead installs in ~2 MiB steps to wake waiters early
constexpr size_t kReadAheadPiece = 1 << 20;  // a reader's read + install step (read_ahead.h)

[[noreturn]] void throwErrno(int negErrno, const std::string& what) {
  throw std::system_error(-negErrno, std::generic_category(), what);
}

size_t roundUp(size_t v, size_t to) { return (v + to - 1) / to * to; }

// The driver's write-back shape, or $UMMAP_WRITE_PIECE_BYTES / $UMMAP_WRITE_PARALLELISM (tuning
// and before/after measurements).
size_t envOr(const char* name, size_t fallback) {
  const char* v = getenv(name);
  unsigned long long n = v && *v ? strtoull(v, nullptr, 0) : 0;
  return n > 0 ? static_cast<size_t>(n) : fallback;
}
size_t pieceBytes(const StorageDriver& d) { return roundUp(envOr("UMMAP_WRITE_PIECE_BYTES", d.writePieceBytes()), kPageSize); }
unsigned parallelism(const StorageDriver& d) { return static_cast<unsigned>(envOr("UMMAP_WRITE_PARALLELISM", d.writeParallelism())); }

}  // namespace

// Waits (releasing the mapping's lock meanwhile) until `turn` is served; ends the turn when it
// goes out of scope, with the lock held again.
class Mapping::TurnHold {
 public:
  TurnHold(Mapping& m, std::unique_lock<std::mutex>& lock, uint64_t turn, WriteBackJob* job = nullptr)
      : m_(m), job_(job) {
    m_.turnChanged_.wait(lock, [&] { return m_.servingTurn_ == turn; });
  }
  ~TurnHold() {
    if (job_) {
      m_.pendingJobs_.erase(std::find(m_.pendingJobs_.begin(), m_.pendingJobs_.end(), job_));
      // Keep the largest copy for the next snapshot: a fresh one costs page faults.
      for (auto& copy : job_->copies)
        if (!m_.closed_ && (!m_.spareCopy_ || copy->size() > m_.spareCopy_->size())) m_.spareCopy_ = std::move(copy);
      job_->copies.clear();
    }
    m_.servingTurn_++;
    m_.turnChanged_.notify_all();
  }

 private:
  Mapping& m_;
  WriteBackJob* job_;
};

std::shared_ptr<Mapping> Mapping::create(std::shared_ptr<StorageDriver> driver, const MappingOptions& o) {
  if (o.size == 0) throw std::invalid_argument("size must be > 0");
  if (o.segmentSize == 0 || o.segmentSize % kPageSize) throw std::invalid_argument("segmentSize must be a multiple of 4096");
  UffdContext& ctx = uffdContext(o.tracking);
  std::shared_ptr<Mapping> m(new Mapping(std::move(driver), o, ctx));
  registerMapping(m, reinterpret_cast<uintptr_t>(m->base_), m->mappedLength_);
  return m;
}

Mapping::Mapping(std::shared_ptr<StorageDriver> driver, const MappingOptions& o, UffdContext& ctx)
    : driver_(std::move(driver)), options_(o), ctx_(ctx), generation_(roundUp(o.size, o.segmentSize) / o.segmentSize),
      everLoaded_(generation_.size(), 0), readAheadState_(generation_.size(), kIdle), unsynced_(generation_.size() * o.segmentSize) {
  options_.tracking = ctx.tracking();
  if (options_.faultTimeoutMs == 0) {
    const char* env = getenv("UMMAP_FAULT_TIMEOUT_MS");
    if (!env || !*env) env = getenv("IOC_CLIENT_TIMEOUT_MS");
    long v = env && *env ? strtol(env, nullptr, 10) : 0;
    options_.faultTimeoutMs = v > 0 ? static_cast<unsigned>(v) : 30000;
  }
  mappedLength_ = generation_.size() * o.segmentSize;
  void* p = mmap(nullptr, mappedLength_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap");
  base_ = static_cast<uint8_t*>(p);
  // Huge pages would defeat per-page dirty tracking and segment-sized drops.
  madvise(base_, mappedLength_, MADV_NOHUGEPAGE);
  // Not inherited by child processes. libuv spawns with fork(): without this, every spawn
  // (child_process, a server started by the application) made all of the mapping copy-on-write,
  // and the next write to each page took a fault (about 0.5 s per GiB here). A child could not
  // use the range anyway: it is not registered there, so unloaded segments would read as zeros.
  madvise(base_, mappedLength_, MADV_DONTFORK);
  bool wp = !o.readOnly;
  int ret = ctx_.registerRange(base_, mappedLength_, wp);
  // Untouched pages of a WP_ASYNC range report as written until protected once.
  if (ret == 0 && wp && wpAsync()) ret = ctx_.writeProtect(base_, mappedLength_, true);
  if (ret == 0) ret = driver_->attach(o.storageOffset, o.size, !o.readOnly);
  if (ret < 0) {
    munmap(base_, mappedLength_);
    base_ = nullptr;
    closed_ = true;
    throwErrno(ret, "cannot map " + driver_->describe());
  }
  dirty_ = makeDirtyTracker(ctx_, base_, mappedLength_);
}

Mapping::~Mapping() {
  if (base_ && !closed_) munmap(base_, mappedLength_);
}

size_t Mapping::segmentBytes(size_t seg) const {
  size_t start = seg * options_.segmentSize;
  return std::min(options_.segmentSize, roundUp(options_.size, kPageSize) - start);
}

size_t Mapping::storageBytes(size_t seg) const {
  size_t start = seg * options_.segmentSize;
  return std::min(options_.segmentSize, options_.size - start);
}

bool Mapping::isResident(size_t segment, uint64_t generation) const {
  return segment < generation_.size() && generation_[segment].load(std::memory_order_acquire) == generation;
}

void Mapping::handleFault(uintptr_t address, uint64_t flags, uint32_t tid) {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t offset = address - reinterpret_cast<uintptr_t>(base_);
  size_t pageOffset = offset & ~(kPageSize - 1);
  if (closed_ || offset >= mappedLength_) return;
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

// The driver's reader count, or $UMMAP_READAHEAD_READERS (0: read ahead on the handler thread,
// as before the pool; for before/after measurements).
unsigned Mapping::readers() const {
  static const char* env = getenv("UMMAP_READAHEAD_READERS");
  return env && *env ? static_cast<unsigned>(strtoul(env, nullptr, 10)) : driver_->readAheadReaders();
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
  uint64_t gen = ++loadCounter;
  generation_[seg].store(gen, std::memory_order_release);
  everLoaded_[seg] = 1;
  stats_.segmentsLoaded++;
  stats_.readAheadSegments++;
  stats_.residentBytes += mapped;
  if (options_.policy) options_.policy->onLoaded(shared_from_this(), seg, gen, mapped);
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
    FillResult res = fillRange(*driver_, ctx_, req);
    if (res.readFailed && i != first) {  // read-ahead: leave it for a later fault to retry
      stats_.ioErrors++;
      break;
    }
    if (res.readFailed) {
      // The faulting segment: retry with back-off until the timeout, then SIGBUS (the thread
      // stays blocked meanwhile; so does this mapping's lock).
      auto start = std::chrono::steady_clock::now();
      auto deadline = start + std::chrono::milliseconds(options_.faultTimeoutMs);
      auto pause = std::chrono::milliseconds(50);
      while (res.readFailed) {
        stats_.ioErrors++;
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline) {
          raiseSigbus(first, faultPage, res.error, tid);
          return;
        }
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(pause, deadline - now));
        pause = std::min(pause * 2, std::chrono::milliseconds(1000));
        res = fillRange(*driver_, ctx_, req);
      }
    }
    stats_.bytesRead += res.bytesRead;
    if (res.error) stats_.ioErrors++;
    // Read from a restarted server: acknowledged pages of these segments are not in what it sent.
    if (!unsynced_.empty()) noticeEpoch(i, j);
    for (size_t k = i; k < j; k++) {
      uint64_t gen = ++loadCounter;
      generation_[k].store(gen, std::memory_order_release);
      everLoaded_[k] = 1;
      stats_.segmentsLoaded++;
      stats_.residentBytes += segmentBytes(k);
      if (k != first) stats_.readAheadSegments++;
      if (options_.policy) options_.policy->onLoaded(shared_from_this(), k, gen, segmentBytes(k));
    }
    // A write fault on a missing page would fault again on the fresh protection: record the
    // write now (FaultWpTracker; WP_ASYNC resolves it in the kernel anyway).
    if (i == first && wp && (faultFlags & UFFD_PAGEFAULT_FLAG_WRITE) && !wpAsync()) dirty_->onWriteFault(faultPage);
    i = j;
  }
  nextSequential_ = first + count;
}

void Mapping::raiseSigbus(size_t seg, uintptr_t faultOffset, int error, uint32_t tid) {
  // One line on stderr saying which mapping and why, then SIGBUS to the faulting thread: it is
  // blocked in the fault, the signal interrupts it (default action: the process ends). Were the
  // signal handled and returned from, the access faults again and the cycle repeats.
  fprintf(stderr,
          "ummap: SIGBUS: cannot load segment %zu (mapping offset %zu, address %p) of the mapping of %s "
          "(%zu bytes at %p): %s; retried for %u ms (UMMAP_FAULT_TIMEOUT_MS)\n",
          seg, static_cast<size_t>(faultOffset), static_cast<void*>(base_ + faultOffset), driver_->describe().c_str(),
          options_.size, static_cast<void*>(base_), strerror(error < 0 ? -error : error), options_.faultTimeoutMs);
  fflush(stderr);
  if (tid == 0 || syscall(SYS_tgkill, getpid(), static_cast<pid_t>(tid), SIGBUS) != 0) kill(getpid(), SIGBUS);
}

// A round of write-back is repeated when the store restarted during it (which of its writes
// reached the old server run is unknown): a few times, then EIO.
int Mapping::writeBackLocked(size_t offset, size_t length) {
  if (options_.readOnly || length == 0) return 0;
  for (int round = 0; round < 4; round++) {
    uint64_t before = noticeEpoch();
    int ret = writeBackRound(offset, length, before);
    if (noticeEpoch() == before) return ret;
  }
  return -EIO;
}

// Under mutex_, which stays held: the pieces are written from the mapping itself.
int Mapping::writeBackRound(size_t offset, size_t length, uint64_t epoch) {
  std::vector<PageRun> runs;
  int ret = dirty_->collect(offset, length, runs);
  if (ret < 0) return ret;
  std::vector<WritePiece> pieces;
  for (const PageRun& run : runs)
    if (run.offset < options_.size) cutIntoPieces(run.offset, run.length, base_ + run.offset, pieceBytes(*driver_), pieces);
  writePieces(pieces, parallelism(*driver_), [&](size_t index, int result) { pieces[index].result = result; });
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
  std::vector<size_t> todo;
  for (size_t i = 0; i < pieces.size(); i++)
    if (pieces[i].result != 0) todo.push_back(i);
  std::atomic<bool> failed{false};
  StorageDriver& driver = *driver_;  // turns keep switchDriver away meanwhile
  runInParallel(todo.size(), parallelism, [&](size_t k) {
    const WritePiece& piece = pieces[todo[k]];
    if (failed.load()) return;  // stays 1: not written
    size_t n = std::min(piece.length, options_.size - piece.offset);
    ssize_t w = driver.write(piece.source, n, options_.storageOffset + piece.offset);
    int result = w == static_cast<ssize_t>(n) ? 0 : w < 0 ? static_cast<int>(w) : -EIO;
    if (result < 0) failed = true;
    done(todo[k], result);
  });
}

void Mapping::accountWritten(const WritePiece& piece, uint64_t epoch) {
  stats_.bytesWritten += std::min(piece.length, options_.size - piece.offset);
  stats_.writeBacks++;
  unsyncedWrites_ = true;
  if (epoch) unsynced_.add(piece.offset, piece.length);
  else if (driver_->volatileEpoch()) {
    // The first handshake with a volatile server happened during this write: track it too
    // (the caller's check sees the epoch change and writes the piece again).
    dirty_->markDirty(piece.offset, piece.length);
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
        dirty_->markDirty(at, n);
        redirtied += n;
      } else if (at < options_.size) {
        lost += std::min(n, options_.size - at);
      }
      at += n;
    }
  });
  if (redirtied || lost)
    fprintf(stderr, "ummap: %s restarted (epoch %016llx -> %016llx): %llu acknowledged bytes to write again, %llu lost\n",
            driver_->describe().c_str(), (unsigned long long)ackEpoch_, (unsigned long long)now,
            (unsigned long long)redirtied, (unsigned long long)lost);
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
  std::lock_guard<std::mutex> lock(mutex_);
  if (closed_) throw std::system_error(EBADF, std::generic_category(), "mapping is unmapped");
  job->offset = std::min(offset, options_.size);
  job->length = std::min(length, options_.size - job->offset);
  job->start = job->offset & ~(kPageSize - 1);
  job->end = std::min(roundUp(job->offset + job->length, kPageSize), mappedLength_);
  job->syncDriver = syncDriver;
  job->evict = evict;
  if (!options_.readOnly && job->length > 0) copyDirty(*job);
  // The turn is taken once nothing can fail any more: turns are never skipped.
  job->turn = nextTurn_++;
  job->failuresAtCall = writeBackFailures_;
  pendingJobs_.push_back(job.get());
  return job;
}

// Copy the dirty pages of the job's range (now write-protected again) into a snapshot buffer.
void Mapping::copyDirty(WriteBackJob& job) {
  std::vector<PageRun> runs;
  int ret = dirty_->collect(job.start, job.end - job.start, runs);
  if (ret < 0) throwErrno(ret, "dirty page scan");
  size_t total = 0;
  for (const PageRun& run : runs) total += run.length;
  if (total == 0) return;
  std::unique_ptr<SnapshotBuffer> copy;
  try {
    if (spareCopy_ && spareCopy_->size() >= total) copy = std::move(spareCopy_);
    else if (!(copy = takeSpareSnapshot(total))) copy = std::make_unique<SnapshotBuffer>(total);
  } catch (...) {
    for (const PageRun& run : runs) dirty_->markDirty(run.offset, run.length);
    throw;
  }
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
    if (run.offset < options_.size) cutIntoPieces(run.offset, run.length, copy->data() + at, pieceBytes(*driver_), job.pieces);
    at += run.length;
  }
  static const unsigned copyThreads = std::max(1u, std::min(4u, std::thread::hardware_concurrency()));
  runInParallel(steps.size(), steps.size() > 1 ? copyThreads : 1, [&](size_t i) { streamCopy(steps[i].to, steps[i].from, steps[i].length); });
  job.copies.push_back(std::move(copy));
}

void Mapping::runWriteBack(WriteBackJob& job) {
  std::unique_lock<std::mutex> lock(mutex_);
  TurnHold turn(*this, lock, job.turn, &job);
  if (closed_) throw std::system_error(EBADF, std::generic_category(), "mapping is unmapped");
  // As flushLocked, repeated when the store restarted during its sync.
  for (int round = 0;; round++) {
    int ret = writeSnapshot(lock, job);
    if (ret < 0) failWriteBack(job, ret, "write back to " + driver_->describe());
    if (job.evict) {
      // Eviction writes what was written since the call too, then drops (the lock is held).
      for (size_t seg = job.start / options_.segmentSize; seg * options_.segmentSize < job.end; seg++) {
        if (!loaded(seg)) continue;
        ret = evictLocked(seg);
        if (ret < 0) failWriteBack(job, ret, "evict to " + driver_->describe());
      }
    }
    if (!job.syncDriver || !unsyncedWrites_) break;
    uint64_t epoch = noticeEpoch();
    std::shared_ptr<StorageDriver> driver = driver_;
    lock.unlock();
    ret = driver->sync(options_.storageOffset + job.offset, job.length);
    lock.lock();
    stats_.driverSyncs++;
    if (noticeEpoch() != epoch) {
      if (round < 3) {
        restartSnapshot(job);
        continue;
      }
      failWriteBack(job, -EIO, "sync " + driver_->describe() + ": the server restarted during every attempt");
    }
    if (ret < 0) throwErrno(ret, "sync " + driver_->describe());
    unsynced_.remove(job.start, job.end - job.start);
    if (job.offset == 0 && job.length == options_.size) unsyncedWrites_ = false;
    break;
  }
  if (writeBackFailures_ != job.failuresAtCall)
    throwErrno(-EIO, "write back to " + driver_->describe() +
                         ": an earlier write-back of this mapping failed after this one was called (its pages are dirty "
                         "again and go with the next sync)");
  reportLostBytes();
}

// Rounds as writeBackLocked: repeated when the store restarted meanwhile.
int Mapping::writeSnapshot(std::unique_lock<std::mutex>& lock, WriteBackJob& job) {
  for (int round = 0; round < 4; round++) {
    uint64_t before = noticeEpoch();
    int ret = writeSnapshotRound(lock, job, before);
    if (noticeEpoch() == before) return ret;
    restartSnapshot(job);
  }
  return -EIO;
}

int Mapping::writeSnapshotRound(std::unique_lock<std::mutex>& lock, WriteBackJob& job, uint64_t epoch) {
  std::shared_ptr<StorageDriver> keep = driver_;
  unsigned inFlight = testGateArmed() ? 1 : parallelism(*driver_);
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

// The store restarted: write the whole copy again, and what it lost that is not in the copy
// (noticeEpoch made it dirty again) from the mapping as it is now.
void Mapping::restartSnapshot(WriteBackJob& job) {
  for (WritePiece& piece : job.pieces) piece.result = 1;
  copyDirty(job);
}

void Mapping::failWriteBack(WriteBackJob& job, int error, const std::string& what) {
  // What this copy did not write goes with the next write-back, from the mapping's content.
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
  // Repeated when the store restarted during its sync: what it acknowledged is written again.
  for (int round = 0;; round++) {
    int ret = writeBackLocked(start, end - start);
    if (ret < 0) throwErrno(ret, "write back to " + driver_->describe());
    if (evict) {
      for (size_t seg = start / options_.segmentSize; seg * options_.segmentSize < end; seg++) {
        if (!loaded(seg)) continue;
        ret = evictLocked(seg);
        if (ret < 0) throwErrno(ret, "evict to " + driver_->describe());
      }
    }
    if (!syncDriver || !unsyncedWrites_) break;
    uint64_t epoch = noticeEpoch();
    ret = driver_->sync(options_.storageOffset + offset, length);
    stats_.driverSyncs++;
    if (noticeEpoch() != epoch) {
      if (round < 3) continue;
      throwErrno(-EIO, "sync " + driver_->describe() + ": the server restarted during every attempt");
    }
    if (ret < 0) throwErrno(ret, "sync " + driver_->describe());
    unsynced_.remove(start, end - start);  // in the store now
    if (offset == 0 && length == options_.size) unsyncedWrites_ = false;
    break;
  }
  reportLostBytes();
}

void Mapping::unmap(bool sync) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (closed_) return;
  TurnHold turn(*this, lock, nextTurn_++);
  if (closed_) return;
  if (sync) flushLocked(0, options_.size, true, false);
  closed_ = true;
  // Queued read-ahead is dropped; a reader in its read drops its result; one installing is
  // waited for (its UFFDIO_COPY must not land in a range munmap may hand out again).
  cancelReadAhead();
  installed_.wait(lock, [&] { return installing_ == 0; });
  keepSpareSnapshot(std::move(spareCopy_));
  unregisterMapping(reinterpret_cast<uintptr_t>(base_));
  ctx_.unregisterRange(base_, mappedLength_);  // wakes any thread still waiting on a fault
  munmap(base_, mappedLength_);
  uint64_t resident = stats_.residentBytes.exchange(0);
  if (options_.policy) options_.policy->onDropped(resident);
  for (auto& g : generation_) g.store(0, std::memory_order_release);
  driver_->detach();
}

void Mapping::switchDriver(std::shared_ptr<StorageDriver> next, bool copyFirst, bool allowExist) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (closed_) throw std::system_error(EBADF, std::generic_category(), "mapping is unmapped");
  TurnHold turn(*this, lock, nextTurn_++);
  if (closed_) throw std::system_error(EBADF, std::generic_category(), "mapping is unmapped");
  if (copyFirst) {
    if (!allowExist && next->exists()) throw std::system_error(EEXIST, std::generic_category(), next->describe() + " exists");
    int ret = driver_->copyRangeTo(*next, options_.storageOffset, options_.size, allowExist);
    if (ret < 0) throwErrno(ret, "cow " + driver_->describe() + " -> " + next->describe());
    if (ret == 0) {
      // Generic copy of the stored content; dirty pages follow at the next write-back.
      std::vector<uint8_t> buf(std::min<size_t>(options_.size, 4 << 20));
      for (size_t done = 0; done < options_.size;) {
        size_t n = std::min(buf.size(), options_.size - done);
        ssize_t got = driver_->read(buf.data(), n, options_.storageOffset + done);
        if (got < 0) throwErrno(static_cast<int>(got), "cow read " + driver_->describe());
        memset(buf.data() + got, 0, n - got);
        ssize_t put = next->write(buf.data(), n, options_.storageOffset + done);
        if (put != static_cast<ssize_t>(n)) throwErrno(put < 0 ? static_cast<int>(put) : -EIO, "cow write " + next->describe());
        done += n;
      }
    }
  }
  int ret = next->attach(options_.storageOffset, options_.size, !options_.readOnly);
  if (ret < 0) throwErrno(ret, "cannot map " + next->describe());
  driver_->detach();
  driver_ = std::move(next);
  driverGeneration_++;  // read-ahead from the old store in flight is dropped
  unsyncedWrites_ = true;
  // Acknowledged pages of the old store are its own (switch does not copy them to the new one).
  unsynced_.drain([](size_t, size_t) {});
  ackEpoch_ = 0;
}

MappingStats Mapping::stats() const {
  // The handler wakes the faulting thread at UFFDIO_COPY and updates the counters just after:
  // take the lock for a snapshot that includes the fault the caller just took. A read-ahead
  // reader also wakes before it accounts: wait for the installs under way.
  std::unique_lock<std::mutex> lock(mutex_);
  installed_.wait(lock, [&] { return installing_ == 0; });
  MappingStats s;
  s.faults = stats_.faults;
  s.writeFaults = stats_.writeFaults;
  s.segmentsLoaded = stats_.segmentsLoaded;
  s.readAheadSegments = stats_.readAheadSegments;
  s.bytesRead = stats_.bytesRead;
  s.bytesWritten = stats_.bytesWritten;
  s.writeBacks = stats_.writeBacks;
  s.evictions = stats_.evictions;
  s.driverSyncs = stats_.driverSyncs;
  s.ioErrors = stats_.ioErrors;
  s.residentBytes = stats_.residentBytes;
  return s;
}

}  // namespace ummap
