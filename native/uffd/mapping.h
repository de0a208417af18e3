// One ummap mapping: an anonymous memory range registered with userfaultfd whose segments are
// loaded from a storage driver on first touch and written back (dirty pages only) on sync,
// eviction and unmap. Every state change happens under mutex_: the fault handler thread (load,
// eviction for a policy) and the JS thread (sync, evict, unmap, switch) never race.
//
// Known limit: with WP_ASYNC, a write by another thread to a segment that a shared-quota
// eviction (triggered by a fault of another mapping) is dropping, between the dirty scan and
// MADV_DONTNEED (microseconds), is not seen. A mapping's own faults and its own thread's calls
// cannot race this way (the writer is the thread that is blocked or busy in the call); the
// synchronous write-protect mode (wp-fault) has no such window, so mappings under a
// process-wide (named) policy, which other threads' faults evict from, always use wp-fault.
//
// Write-backs (flush, runWriteBack, unmap, switchDriver) take turns in call order: a later one
// waits for the earlier ones, so an older copy of a page never lands after a newer one.
//
// Where: mapping.cc (create, unmap, switch, stats), mapping_faults.cc (the fault path and
// read-ahead), mapping_write_back.cc (sync, flush, evict and the asynchronous snapshot).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "dirty_tracker.h"
#include "eviction_policy.h"
#include "storage_driver.h"
#include "uffd_context.h"
#include "unsynced_pages.h"
#include "write_back_job.h"

namespace ummap {

struct MappingOptions {
  size_t size = 0;
  size_t segmentSize = 1 << 20;
  uint64_t storageOffset = 0;
  bool readOnly = false;     // never write back (local writes are allowed, then dropped)
  bool noFirstRead = false;  // first load of each segment gives zeros without reading
  DirtyTracking tracking = DirtyTracking::WpAsync;
  size_t readAheadMax = 16 << 20;  // bytes loaded ahead on sequential faults (0: off)
  // How long a fault retries a segment the driver cannot read before the faulting thread gets
  // SIGBUS. 0: $UMMAP_FAULT_TIMEOUT_MS, else $IOC_CLIENT_TIMEOUT_MS, else 30 s.
  unsigned faultTimeoutMs = 0;
  std::shared_ptr<EvictionPolicy> policy;  // null: no limit
  // Write-back shape and snapshots: 0 / Auto take the driver's and the kernel's defaults.
  // Read once, when the mapping is created (Tunables::fromEnvironment).
  struct Tunables {
    size_t writePieceBytes = 0;   // $UMMAP_WRITE_PIECE_BYTES: bytes per driver write
    unsigned writeParallelism = 0;  // $UMMAP_WRITE_PARALLELISM: driver writes in flight
    bool copySnapshots = false;   // $UMMAP_SNAPSHOT=copy: never move dirty runs out (mremap)
    size_t moveMinBytes = 2 << 20;  // $UMMAP_SNAPSHOT_MOVE_MIN_BYTES: smallest run moved
    static Tunables fromEnvironment();
  } tunables;
};

struct MappingStats {
  uint64_t faults = 0;          // missing faults served
  uint64_t writeFaults = 0;     // write-protect faults (FaultWpTracker)
  uint64_t segmentsLoaded = 0;  // including read-ahead
  uint64_t readAheadSegments = 0;
  uint64_t bytesRead = 0;       // from the driver
  uint64_t bytesWritten = 0;    // to the driver
  uint64_t writeBacks = 0;      // driver write calls
  uint64_t evictions = 0;       // segments dropped (policy or sync/flush with evict)
  uint64_t driverSyncs = 0;
  uint64_t ioErrors = 0;
  uint64_t residentBytes = 0;
  uint64_t snapshotMovedBytes = 0;   // asynchronous write-backs: dirty bytes moved out (mremap)
  uint64_t snapshotCopiedBytes = 0;  // ... and copied
};

class Mapping : public std::enable_shared_from_this<Mapping> {
 public:
  // mmap + userfaultfd registration. Throws std::system_error / std::invalid_argument.
  static std::shared_ptr<Mapping> create(std::shared_ptr<StorageDriver> driver, const MappingOptions& options);
  ~Mapping();

  uint8_t* base() const { return base_; }
  size_t size() const { return options_.size; }
  bool closed() const { return closed_.load(); }
  bool wpAsync() const { return ctx_.tracking() == DirtyTracking::WpAsync; }

  // Fault handler thread: a fault at address (UFFD_PAGEFAULT_FLAG_* in flags).
  // tid: the faulting thread (UFFD_FEATURE_THREAD_ID; 0 when unknown).
  void handleFault(uintptr_t address, uint64_t flags, uint32_t tid = 0);

  // Write back dirty pages of [offset, offset+length); then the driver's sync when syncDriver;
  // then drop the segments when evict. Throws std::system_error on I/O errors.
  void flush(size_t offset, size_t length, bool syncDriver, bool evict);
  // The same in two steps, so that the I/O runs on another thread while the application goes
  // on writing. snapshotWriteBack (the caller's thread): takes the next turn and takes the
  // range's dirty pages as they are now, large runs moved out of the mapping by mremap (a
  // touch meanwhile copies that segment's part back), small ones copied; pages written
  // afterwards are dirty again and go with the next write-back. runWriteBack (any thread): waits for the
  // earlier turns, writes the copy, then the driver's sync / eviction as flush does. Throws
  // std::system_error; also EIO when an earlier write-back failed after this one's call (its
  // pages are dirty again, but not in this copy).
  std::shared_ptr<WriteBackJob> snapshotWriteBack(size_t offset, size_t length, bool syncDriver, bool evict);
  void runWriteBack(WriteBackJob& job);
  // Write back (when sync) and release everything. Idempotent.
  void unmap(bool sync);
  // Re-point to another store. copyFirst (cow) copies the current stored content to it first;
  // dirty pages then go to the new store.
  void switchDriver(std::shared_ptr<StorageDriver> driver, bool copyFirst, bool allowExist);
  MappingStats stats() const;

  // Eviction policy support. isResident is lock-free (called under the policy lock).
  bool isResident(size_t segment, uint64_t generation) const;
  void evictForPolicy(size_t segment, uint64_t generation);

  // Read-ahead reader thread (read_ahead.cc): read a queued segment without the lock, install it
  // with UFFDIO_COPY (waking the threads waiting on it), then account for it. A job that was
  // taken back, or whose mapping was unmapped or switched meanwhile, ends without installing.
  void readAheadRun(size_t segment);

 private:
  Mapping(std::shared_ptr<StorageDriver> driver, const MappingOptions& options, UffdContext& ctx);

  size_t segmentCount() const { return generation_.size(); }
  size_t segmentBytes(size_t seg) const;  // mapped bytes of a segment (last one page-trimmed)
  size_t storageBytes(size_t seg) const;  // bytes of a segment inside the mapping size
  bool loaded(size_t seg) const { return generation_[seg].load(std::memory_order_relaxed) != 0; }

  size_t planLoad(size_t seg, bool inWindow);  // segments to load for a fault at seg (read-ahead)
  bool pipelined(size_t seg) const;  // read ahead of seg through the reader pool (read_ahead.h)
  unsigned readers() const { return driver_->readAheadReaders(); }
  // A segment now holds the driver's bytes: its new generation, stats, the policy told.
  void recordLoaded(size_t seg, size_t bytes, bool readAhead);
  // The write-back shape: the tunables', else the driver's.
  size_t pieceBytes() const;
  unsigned parallelism() const;
  void queueReadAhead(size_t seg, size_t count);  // queue [seg+1, seg+count) for the readers
  void cancelReadAhead();                         // take back the jobs no reader started
  void makeRoom(size_t bytes);  // evict for the policy before a load
  void loadSegments(size_t first, size_t count, uint64_t faultFlags, uintptr_t faultAddress, uint32_t tid);
  // The faulting segment could not be read until the timeout: report and SIGBUS the thread.
  void raiseSigbus(size_t seg, uintptr_t faultOffset, int error, uint32_t tid, unsigned elapsedMs);
  void flushLocked(size_t offset, size_t length, bool syncDriver, bool evict);
  // A write-back round is repeated when the store restarted during it (which of its writes
  // reached the old server run is unknown): at most kStoreRestartAttempts rounds, then EIO.
  // round(epoch) writes; beforeRetry() prepares the next round.
  static constexpr int kStoreRestartAttempts = 4;
  int untilStoreSteady(const std::function<int(uint64_t)>& round, const std::function<void()>& beforeRetry);
  // The common course of flushLocked and runWriteBack: write() the dirty pages; evict the
  // loaded segments of [start, end) when the step says so; sync the driver over
  // [offset, offset+length) when it says so and something is unsynced, the whole course again
  // (after beforeRetry()) when the store restarted during that sync. fail(error, what) throws.
  // With `unlock`, the lock is dropped during the sync.
  struct FlushCourse {
    size_t start, end, offset, length;
    bool evict, syncDriver;
    std::function<int()> write;
    std::function<void()> beforeRetry;
    std::function<void(int, const std::string&)> fail;
    std::unique_lock<std::mutex>* unlock = nullptr;
  };
  void runFlushCourse(const FlushCourse& course);
  int writeBackLocked(size_t offset, size_t length);
  int writeBackRound(size_t offset, size_t length, uint64_t epoch);
  // Write the pieces whose result is not 0 yet, `parallelism` at once; after each, done(index,
  // 0 or -errno) on the writing thread (pieces left unwritten after a failure get no call).
  void writePieces(const std::vector<WritePiece>& pieces, unsigned parallelism, const std::function<void(size_t, int)>& done);
  void accountWritten(const WritePiece& piece, uint64_t epoch);  // under mutex_
  // Asynchronous write-back steps (under mutex_, which writeSnapshot drops during the I/O).
  // copyDirty copies the job's dirty runs; with mayMove, large ones are only listed in
  // job.moved (returns true when there are such) for moveOut to move them.
  bool copyDirty(WriteBackJob& job, bool mayMove);
  void copyRuns(WriteBackJob& job, const std::vector<PageRun>& runs);
  int writeSnapshot(std::unique_lock<std::mutex>& lock, WriteBackJob& job);
  int writeSnapshotRound(std::unique_lock<std::mutex>& lock, WriteBackJob& job, uint64_t epoch);
  void restartSnapshot(WriteBackJob& job);
  [[noreturn]] void failWriteBack(std::unique_lock<std::mutex>& lock, WriteBackJob& job, int error, const std::string& what);
  bool snapshotPending(size_t seg) const;
  // Snapshots by moving pages (mapping_moved_runs.cc). movesSnapshots: this mapping can.
  // moveOut and moveBack run under mutex_ with a FaultsHeld; returnMovedPages takes one (the
  // lock is dropped meanwhile). serveMovedPage: a fault on a page moved out (copied back, true).
  bool movesSnapshots() const;
  void moveOut(WriteBackJob& job);
  void moveBack(WriteBackJob& job);
  void returnMovedPages(std::unique_lock<std::mutex>& lock, WriteBackJob& job);
  bool serveMovedPage(size_t pageOffset);
  // Mark pages dirty; those moved out for a write-back are marked once they are back.
  void markDirtyResident(size_t offset, size_t length);
  class MovedPagesReturn;
  // 0 evicted, 1 kept (an asynchronous write-back still has to write its copy of it), -errno.
  int evictLocked(size_t seg);
  // After talking to the store: when its volatile epoch changed (the server restarted), what it
  // acknowledged before is gone: such pages still in memory become dirty again, the others are
  // counted in lostBytes_. Segments [untrustedFirst, untrustedEnd) were just read from the
  // store: not trusted. Returns the current epoch.
  uint64_t noticeEpoch(size_t untrustedFirst = 0, size_t untrustedEnd = 0);
  // Throws EIO once for the bytes counted in lostBytes_.
  void reportLostBytes();

  std::shared_ptr<StorageDriver> driver_;
  MappingOptions options_;
  UffdContext& ctx_;
  uint8_t* base_ = nullptr;
  size_t mappedLength_ = 0;  // size rounded up to whole segments
  std::unique_ptr<DirtyTracker> dirty_;
  std::vector<std::atomic<uint64_t>> generation_;  // per segment: 0 = not resident
  std::vector<uint8_t> everLoaded_;                // noFirstRead applies to the first load only
  size_t nextSequential_ = SIZE_MAX;               // segment after the last load
  size_t readAhead_ = 0;                           // current read-ahead window, bytes
  // Pipelined read-ahead (read_ahead.h): per segment kIdle / kQueued / kReading (a reader
  // thread has it, installs it and wakes the threads waiting on it).
  enum : uint8_t { kIdle, kQueued, kReading };
  std::vector<uint8_t> readAheadState_;
  size_t readAheadInFlight_ = 0;    // segments queued or reading
  unsigned installing_ = 0;         // UFFDIO_COPYs of readers running without the lock
  mutable std::condition_variable installed_;  // installing_ dropped (unmap waits for 0)
  uint64_t driverGeneration_ = 0;   // switchDriver: reads from the old driver are dropped
  bool unsyncedWrites_ = false;                    // written since the last driver sync
  UnsyncedPages unsynced_;                         // acknowledged under ackEpoch_, not yet synced
  uint64_t ackEpoch_ = 0;                          // the driver's volatile epoch they belong to
  uint64_t lostBytes_ = 0;                         // acknowledged, lost by a restart, not reported
  std::atomic<bool> closed_{false};
  mutable std::mutex mutex_;

  // Turns of write-backs (see the top). A TurnHold waits for its turn and ends it.
  class TurnHold;
  uint64_t nextTurn_ = 0, servingTurn_ = 0;
  std::condition_variable turnChanged_;
  std::vector<WriteBackJob*> pendingJobs_;         // snapshotted, turn not ended
  bool movingOut_ = false;                         // a snapshotWriteBack is between its lock and its moves
  std::condition_variable movedOut_;
  uint64_t writeBackFailures_ = 0;                 // asynchronous write-backs that failed
  std::unique_ptr<SnapshotBuffer> spareCopy_;      // the last copy, reused by the next snapshot

  struct AtomicStats {
    std::atomic<uint64_t> faults{0}, writeFaults{0}, segmentsLoaded{0}, readAheadSegments{0}, bytesRead{0},
        bytesWritten{0}, writeBacks{0}, evictions{0}, driverSyncs{0}, ioErrors{0}, residentBytes{0},
        snapshotMovedBytes{0}, snapshotCopiedBytes{0};
  } stats_;
};

}  // namespace ummap
