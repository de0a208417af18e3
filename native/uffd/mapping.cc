#include "mapping.h"

#include <errno.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "fault_reader.h"
#include "mapping_internal.h"

namespace ummap {
using namespace detail;

namespace detail {
std::atomic<uint64_t> loadCounter{0};
}  // namespace detail

namespace {
size_t envBytes(const char* name, size_t fallback) {
  const char* v = getenv(name);
  unsigned long long n = v && *v ? strtoull(v, nullptr, 0) : 0;
  return n > 0 ? static_cast<size_t>(n) : fallback;
}

// A fault retries this long before SIGBUS: $UMMAP_FAULT_TIMEOUT_MS, else the client's
// $IOC_CLIENT_TIMEOUT_MS, else 30 s.
unsigned defaultFaultTimeoutMs() {
  const char* env = getenv("UMMAP_FAULT_TIMEOUT_MS");
  if (!env || !*env) env = getenv("IOC_CLIENT_TIMEOUT_MS");
  long v = env && *env ? strtol(env, nullptr, 10) : 0;
  return v > 0 ? static_cast<unsigned>(v) : 30000;
}
}  // namespace

MappingOptions::Tunables MappingOptions::Tunables::fromEnvironment() {
  Tunables t;
  t.writePieceBytes = envBytes("UMMAP_WRITE_PIECE_BYTES", 0);
  t.writeParallelism = static_cast<unsigned>(envBytes("UMMAP_WRITE_PARALLELISM", 0));
  const char* snapshot = getenv("UMMAP_SNAPSHOT");
  t.copySnapshots = snapshot && strcmp(snapshot, "copy") == 0;
  t.moveMinBytes = envBytes("UMMAP_SNAPSHOT_MOVE_MIN_BYTES", t.moveMinBytes);
  return t;
}

size_t Mapping::pieceBytes() const {
  size_t n = options_.tunables.writePieceBytes ? options_.tunables.writePieceBytes : driver_->writePieceBytes();
  return roundUp(n, kPageSize);
}

unsigned Mapping::parallelism() const {
  return options_.tunables.writeParallelism ? options_.tunables.writeParallelism : driver_->writeParallelism();
}

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
  if (options_.faultTimeoutMs == 0) options_.faultTimeoutMs = defaultFaultTimeoutMs();
  options_.tunables = MappingOptions::Tunables::fromEnvironment();
  mappedLength_ = generation_.size() * o.segmentSize;
  void* p = mmap(nullptr, mappedLength_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap");
  base_ = static_cast<uint8_t*>(p);
  // Huge pages would defeat per-page dirty tracking and segment-sized drops.
  madvise(base_, mappedLength_, MADV_NOHUGEPAGE);
  // Not inherited by child processes. libuv spawns with fork(): without this, every spawn
  // (child_process, a server started by the application) would make all of the mapping
  // copy-on-write, and the next write to each page would take a fault. A child could not use
  // the range anyway: it is not registered there, so unloaded segments would read as zeros.
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

void Mapping::unmap(bool sync) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (closed_) return;
  TurnHold turn(*this, lock, nextTurn_++);
  if (closed_) return;
  if (sync && !discardOnRelease_) flushLocked(0, options_.size, true, false);
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
  s.snapshotMovedBytes = stats_.snapshotMovedBytes;
  s.snapshotCopiedBytes = stats_.snapshotCopiedBytes;
  return s;
}

}  // namespace ummap
