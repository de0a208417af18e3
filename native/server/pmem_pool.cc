// The pool file of a PmemPool: creating or checking it, mapping it, making ranges durable, and
// handing its slots out and taking them back. Its records: pmem_pool_records.cc; their recovery
// after a restart: pmem_pool_recovery.cc.
#include "server/pmem_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <libpmem.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "server/log.h"
#include "server/pmem_pool_format.h"

namespace ioc {
namespace server {

using namespace pool_format;

static void mkdirs(const std::string &dir) {
  std::string cur;
  for (size_t i = 0; i <= dir.size(); i++) {
    if ((i == dir.size() || dir[i] == '/') && !cur.empty() && mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST)
      throw std::runtime_error("cannot create pool directory " + cur + ": " + strerror(errno));
    if (i < dir.size()) cur += dir[i];
  }
}

PmemPool::PmemPool(const std::string &dir, uint32_t index, size_t segmentSize, size_t slots,
                   fabric::Transport &transport)
    : path_(dir + "/iocatcher-pool"),
      index_(index),
      segmentSize_(segmentSize),
      mr_(transport, segmentSize * std::max<size_t>(1, (256u << 20) / segmentSize), (uint64_t)(index + 1) << 32) {
  mkdirs(dir);
  fd_ = open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) throw std::runtime_error("cannot open pool " + path_ + ": " + strerror(errno));
  if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    close(fd_);
    throw std::runtime_error("pool " + path_ + " is in use by another server");
  }
  bool fresh = !readHeader();
  if (fresh) {
    slots_ = slots;
    dataOffset_ = dataOffsetFor(slots);
    // Sparse: only the slots in use take space.
    if (ftruncate(fd_, 0) != 0 || ftruncate(fd_, dataOffset_ + slots * segmentSize) != 0)
      throw std::runtime_error("cannot size pool " + path_ + ": " + strerror(errno));
  }
  int reserved = reserve(0, dataOffset_);
  if (reserved < 0)
    throw std::runtime_error("cannot reserve the records of pool " + path_ + ": " + strerror(-reserved) +
                             " (its filesystem is full?)");
  base_ = static_cast<char *>(pmem_map_file(path_.c_str(), 0, 0, 0, &mappedLen_, &isPmem_));
  if (!base_) throw std::runtime_error("pmem_map_file " + path_ + ": " + pmem_errormsg());
  if (fresh) writeHeader();
  // Slots are free until recover() says otherwise; a fresh pool has no records.
  for (size_t i = slots_; i-- > 0;) free_.push_back((uint32_t)i);
  lastCopy_.assign(slots_, 1);  // the first record of a slot goes to copy 0
}

PmemPool::~PmemPool() {
  prefaulter_.stop();
  if (base_) pmem_unmap(base_, mappedLen_);
  if (fd_ >= 0) close(fd_);
}

// An existing pool's header, checked against its size and our --segment-size (throws when they
// do not match); false for a pool never initialised (or one killed while it was created).
bool PmemPool::readHeader() {
  PoolHeader h{};
  struct stat st;
  if (fstat(fd_, &st) != 0 || st.st_size < (off_t)sizeof h || pread(fd_, &h, sizeof h, 0) != sizeof h ||
      allZero(&h, sizeof h))
    return false;
  if (memcmp(h.magic, POOL_MAGIC, 8) == 0 && h.version < POOL_VERSION && h.checksum == headerChecksum(h))
    throw std::runtime_error("pool " + path_ + " has format " + std::to_string(h.version) + " of an older iocatcher (this one reads " +
                             std::to_string(POOL_VERSION) + "); flush it with that version, or move it away to start empty");
  if (memcmp(h.magic, POOL_MAGIC, 8) != 0 || h.version != POOL_VERSION || h.checksum != headerChecksum(h))
    throw std::runtime_error("pool " + path_ + " has a corrupt or foreign header; move it away to start empty");
  if (h.segmentSize != segmentSize_)
    throw std::runtime_error("pool " + path_ + " was made with --segment-size " + std::to_string(h.segmentSize) +
                             "; use that size (or move the pool away)");
  slots_ = h.slots;
  dataOffset_ = h.dataOffset;
  if (dataOffset_ != dataOffsetFor(slots_) || (uint64_t)st.st_size != dataOffset_ + slots_ * segmentSize_)
    throw std::runtime_error("pool " + path_ + " has an unexpected size; move it away to start empty");
  return true;
}

void PmemPool::writeHeader() {
  PoolHeader h{};
  memcpy(h.magic, POOL_MAGIC, 8);
  h.version = POOL_VERSION;
  h.segmentSize = segmentSize_;
  h.slots = slots_;
  h.recordsOffset = RECORDS_OFFSET;
  h.dataOffset = dataOffset_;
  h.checksum = headerChecksum(h);
  memcpy(base_, &h, sizeof h);
  persist(base_, sizeof h);
}

void PmemPool::persist(const void *addr, size_t len) {
  // On real persistent memory a cache flush is enough; on a file mapping only msync is durable.
  if (isPmem_)
    pmem_persist(addr, len);
  else if (pmem_msync(addr, len) != 0)
    log(LOG_ERROR, "cache", "msync of pool %s failed: %s", path_.c_str(), strerror(errno));
}

void PmemPool::flush(const void *addr, size_t len) {
  if (isPmem_) pmem_flush(addr, len);
}

void PmemPool::drain() {
  if (isPmem_)
    pmem_drain();
  else if (fdatasync(fd_) != 0)  // the mapping's dirty pages are the file's: one flush for all
    log(LOG_ERROR, "cache", "fdatasync of pool %s failed: %s", path_.c_str(), strerror(errno));
}

int PmemPool::reserve(uint64_t offset, uint64_t len) {
  int e = posix_fallocate(fd_, (off_t)offset, (off_t)len);
  return e == 0 ? 0 : -e;
}

SegmentSlot PmemPool::slotAt(uint32_t slot) {
  SegmentSlot s;
  s.data = slotData(slot);
  s.desc = mr_.desc(base_ + dataOffset_, slots_ * segmentSize_, (size_t)slot * segmentSize_);
  s.pool = index_;
  s.index = slot;
  return s;
}

void PmemPool::prefault(size_t slots) {
  keptSlots_ = std::min(slots, slots_);
  stale_.assign(slots_, false);
  if (keptSlots_ == 0) return;
  // Only when the filesystem has room for all of it (and some to spare): otherwise slots get
  // their blocks one at a time when handed out, and a full filesystem is ENOSPC there.
  struct statvfs fs {};
  uint64_t want = (uint64_t)keptSlots_ * segmentSize_;
  if (fstatvfs(fd_, &fs) != 0 || (uint64_t)fs.f_bavail * fs.f_frsize < want + want / 8) {
    log(LOG_WARN, "cache", "pool %s: not prefaulting %zu MiB (--prefault): its filesystem has %llu MiB free",
        path_.c_str(), (size_t)(want >> 20), (unsigned long long)((uint64_t)fs.f_bavail * fs.f_frsize >> 20));
    keptSlots_ = 0;
    return;
  }
  Prefaulter::Plan plan;
  plan.slotSize = segmentSize_;
  plan.target = [this] { return keptSlots_; };
  plan.fill = [this](size_t first, size_t n) {
    std::lock_guard<std::mutex> lock(prefaultMu_);
    if (reserve(slotOffset((uint32_t)first), n * segmentSize_) < 0) return false;  // full: allocate() reports it
    populate(slotData((uint32_t)first), n * segmentSize_);
    return true;
  };
  plan.reached = [this](size_t slots, double secs) {
    log(LOG_INFO, "cache", "%zu MiB of pool %s prefaulted in %.1f s (--prefault)", (slots * segmentSize_) >> 20,
        path_.c_str(), secs);
  };
  plan.once = true;
  prefaulter_.start(std::move(plan));
}

int PmemPool::allocate(SegmentSlot &out, bool populateNow, bool overwrite) {
  if (free_.empty()) return -ENOMEM;
  std::unique_lock<std::mutex> serial(prefaultMu_, std::defer_lock);
  if (prefaulter_.running()) serial.lock();
  uint32_t i = free_.back();
  if (i < stale_.size() && stale_[i]) {
    // A kept slot: blocks and pages are there. Its old bytes are named by no record; they go
    // unless the new segment is overwritten whole (bytes outside a record need no persist).
    stale_[i] = false;
    free_.pop_back();
    if (!overwrite) memset(slotData(i), 0, segmentSize_);
    out = slotAt(i);
    return 0;
  }
  int ret = reserve(slotOffset(i), segmentSize_);
  if (ret < 0) {
    // Whatever part was reserved goes back (never punch()'s memset fallback: the pages may be unbacked).
    fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, slotOffset(i), segmentSize_);
    return ret;
  }
  free_.pop_back();
  // Map the slot's pages in one call rather than fault them one by one under the transfer. On
  // a file pool only for a whole-slot write: a partial one would make the whole slot dirty for
  // the next fdatasync.
  if (populateNow) populate(slotData(i), segmentSize_);
  out = slotAt(i);
  return 0;
}

void PmemPool::release(uint32_t slot) {
  clearRecord(slot);
  if (slot < keptSlots_)
    stale_[slot] = true;  // kept for the next segment
  else
    punch(slot, 1);
  free_.push_back(slot);
}

void PmemPool::punch(uint32_t first, uint32_t count) {
  size_t len = (size_t)count * segmentSize_;
  // Freeing the blocks also unmaps the pages: resident memory and pool space both shrink.
  if (fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, slotOffset(first), len) == 0) return;
  memset(slotData(first), 0, len);  // no hole punching here (e.g. a DAX device): zero, then drop the pages
  persist(slotData(first), len);
  madvise(slotData(first), len, MADV_DONTNEED);
}

}  // namespace server
}  // namespace ioc
