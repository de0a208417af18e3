#include "server/pmem_pool.h"

#include <sys/statvfs.h>

#include <chrono>



#include <errno.h>
#include <fcntl.h>
#include <libpmem.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "common/thread_name.h"
#include "server/log.h"

namespace ioc {
namespace server {

static constexpr char POOL_MAGIC[8] = {'I', 'O', 'C', 'P', 'O', 'O', 'L', '1'};
static constexpr uint32_t POOL_VERSION = 2;  // 1: one record per slot
static constexpr uint32_t RECORD_MAGIC = 0x52434f49;  // "IOCR"
static constexpr uint32_t RECORD_DIRTY = 1;
static constexpr uint32_t RECORD_TOMBSTONE = 2;
static constexpr uint64_t TOMBSTONES_OFFSET = 1024;
static_assert(TOMBSTONES_OFFSET + PmemPool::TOMBSTONES * sizeof(PoolRecord) <= 4096, "tombstones fit before the records");
static_assert(sizeof(PoolHeader) <= TOMBSTONES_OFFSET, "the header fits before the tombstones");
static constexpr uint64_t RECORDS_OFFSET = 4096;
static constexpr uint64_t DATA_ALIGN = 2u << 20;

// FNV-1a 64: a torn or flipped record fails it with overwhelming probability.
static uint64_t fnv1a(const void *data, size_t len, uint64_t seed) {
  uint64_t h = 14695981039346656037ull ^ seed;
  const unsigned char *p = static_cast<const unsigned char *>(data);
  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

static uint64_t headerChecksum(const PoolHeader &h) { return fnv1a(&h, offsetof(PoolHeader, checksum), 0); }
static uint64_t recordChecksum(const PoolRecord &r, uint32_t slot, unsigned copy) {
  // The place too (slot and copy): a record moved elsewhere fails.
  return fnv1a(&r, offsetof(PoolRecord, checksum), (uint64_t)slot * 2 + copy);
}
static uint64_t tombstoneChecksum(const PoolRecord &r, size_t slot) {
  return fnv1a(&r, offsetof(PoolRecord, checksum), (1ull << 63) | slot);  // never a record's seed
}

static bool allZero(const void *p, size_t len) {
  const unsigned char *c = static_cast<const unsigned char *>(p);
  for (size_t i = 0; i < len; i++)
    if (c[i]) return false;
  return true;
}

static void mkdirs(const std::string &dir) {
  std::string cur;
  for (size_t i = 0; i <= dir.size(); i++) {
    if ((i == dir.size() || dir[i] == '/') && !cur.empty() && mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST)
      throw std::runtime_error("cannot create pool directory " + cur + ": " + strerror(errno));
    if (i < dir.size()) cur += dir[i];
  }
}

static uint64_t dataOffsetFor(size_t slots) {
  uint64_t end = RECORDS_OFFSET + slots * 2 * sizeof(PoolRecord);
  return (end + DATA_ALIGN - 1) / DATA_ALIGN * DATA_ALIGN;
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
  PoolHeader h{};
  struct stat st;
  bool fresh = fstat(fd_, &st) != 0 || st.st_size < (off_t)sizeof h || pread(fd_, &h, sizeof h, 0) != sizeof h ||
               allZero(&h, sizeof h);  // never initialised (or killed while creating it)
  if (fresh) {
    slots_ = slots;
    dataOffset_ = dataOffsetFor(slots);
    // Sparse: only the slots in use take space.
    if (ftruncate(fd_, 0) != 0 || ftruncate(fd_, dataOffset_ + slots * segmentSize) != 0)
      throw std::runtime_error("cannot size pool " + path_ + ": " + strerror(errno));
  } else {
    if (memcmp(h.magic, POOL_MAGIC, 8) == 0 && h.version < POOL_VERSION && h.checksum == headerChecksum(h))
      throw std::runtime_error("pool " + path_ + " has format " + std::to_string(h.version) + " of an older iocatcher (this one reads " +
                               std::to_string(POOL_VERSION) + "); flush it with that version, or move it away to start empty");
    if (memcmp(h.magic, POOL_MAGIC, 8) != 0 || h.version != POOL_VERSION || h.checksum != headerChecksum(h))
      throw std::runtime_error("pool " + path_ + " has a corrupt or foreign header; move it away to start empty");
    if (h.segmentSize != segmentSize)
      throw std::runtime_error("pool " + path_ + " was made with --segment-size " + std::to_string(h.segmentSize) +
                               "; use that size (or move the pool away)");
    slots_ = h.slots;
    dataOffset_ = h.dataOffset;
    if (dataOffset_ != dataOffsetFor(slots_) || (uint64_t)st.st_size != dataOffset_ + slots_ * segmentSize)
      throw std::runtime_error("pool " + path_ + " has an unexpected size; move it away to start empty");
  }
  int reserved = reserve(0, dataOffset_);
  if (reserved < 0)
    throw std::runtime_error("cannot reserve the records of pool " + path_ + ": " + strerror(-reserved) +
                             " (its filesystem is full?)");
  base_ = static_cast<char *>(pmem_map_file(path_.c_str(), 0, 0, 0, &mappedLen_, &isPmem_));
  if (!base_) throw std::runtime_error("pmem_map_file " + path_ + ": " + pmem_errormsg());
  if (fresh) {
    PoolHeader nh{};
    memcpy(nh.magic, POOL_MAGIC, 8);
    nh.version = POOL_VERSION;
    nh.segmentSize = segmentSize;
    nh.slots = slots_;
    nh.recordsOffset = RECORDS_OFFSET;
    nh.dataOffset = dataOffset_;
    nh.checksum = headerChecksum(nh);
    memcpy(base_, &nh, sizeof nh);
    persist(base_, sizeof nh);
  }
  // Slots are free until recover() says otherwise; a fresh pool has no records.
  for (size_t i = slots_; i-- > 0;) free_.push_back((uint32_t)i);
  lastCopy_.assign(slots_, 1);  // the first record of a slot goes to copy 0
}

PmemPool::~PmemPool() {
  prefaulter_.stop();
  if (base_) pmem_unmap(base_, mappedLen_);
  if (fd_ >= 0) close(fd_);
}

PoolRecord *PmemPool::record(uint32_t slot, unsigned copy) const {
  return reinterpret_cast<PoolRecord *>(base_ + RECORDS_OFFSET + ((size_t)slot * 2 + copy) * sizeof(PoolRecord));
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
    if (reserve(dataOffset_ + (uint64_t)first * segmentSize_, n * segmentSize_) < 0) return false;  // full: allocate() reports it
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
  void *desc = mr_.desc(base_ + dataOffset_, slots_ * segmentSize_, (size_t)i * segmentSize_);
  if (i < stale_.size() && stale_[i]) {
    // A kept slot: blocks and pages are there. Its old bytes are named by no record; they go
    // unless the new segment is overwritten whole (bytes outside a record need no persist).
    stale_[i] = false;
    free_.pop_back();
    if (!overwrite) memset(slotData(i), 0, segmentSize_);
    out.data = slotData(i);
    out.desc = desc;
    out.pool = index_;
    out.index = i;
    return 0;
  }
  int ret = reserve(dataOffset_ + (uint64_t)i * segmentSize_, segmentSize_);
  if (ret < 0) {
    // Whatever part was reserved goes back (never punch()'s memset fallback: the pages may be unbacked).
    fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, dataOffset_ + (uint64_t)i * segmentSize_, segmentSize_);
    return ret;
  }
  free_.pop_back();
  // Map the slot's pages in one call rather than fault them one by one under the transfer
  // (262,144 faults per GiB on a tmpfs pool). On a file pool only for a whole-slot write: a
  // partial one would make the whole slot dirty for the next fdatasync.
  if (populateNow) populate(slotData(i), segmentSize_);
  out.data = slotData(i);
  out.desc = desc;
  out.pool = index_;
  out.index = i;
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
  if (fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, dataOffset_ + (uint64_t)first * segmentSize_, len) == 0)
    return;
  memset(slotData(first), 0, len);  // no hole punching here (e.g. a DAX device): zero, then drop the pages
  persist(slotData(first), len);
  madvise(slotData(first), len, MADV_DONTNEED);
}

void PmemPool::writeRecord(uint32_t slot, const SegmentRecord &rec, uint64_t seq, bool persistNow) {
  PoolRecord r{};
  r.magic = RECORD_MAGIC;
  r.flags = RECORD_DIRTY;
  r.high = rec.id.high;
  r.low = rec.id.low;
  r.offset = rec.offset;
  r.size = segmentSize_;
  r.dirtyBegin = rec.dirtyBegin;
  r.dirtyEnd = rec.dirtyEnd;
  r.seq = seq;
  // Over the older of the two: if this write is torn, the newer one still stands.
  unsigned copy = lastCopy_[slot] ^ 1;
  r.checksum = recordChecksum(r, slot, copy);
  PoolRecord *dst = record(slot, copy);
  *dst = r;
  if (persistNow)
    persist(dst, sizeof r);
  else
    flush(dst, sizeof r);
  lastCopy_[slot] = (uint8_t)copy;
}

void PmemPool::clearRecord(uint32_t slot) {
  PoolRecord *r = record(slot, 0);  // both copies: adjacent
  lastCopy_[slot] = 1;
  if (allZero(r, 2 * sizeof *r)) return;
  memset(r, 0, 2 * sizeof *r);
  persist(r, 2 * sizeof *r);
}

void PmemPool::recover(std::vector<RecoveredSegment> &out) {
  free_.clear();
  size_t corrupt = 0, found = 0, torn = 0;
  for (uint32_t i = 0; i < slots_; i++) {
    PoolRecord copies[2] = {*record(i, 0), *record(i, 1)};
    int best = -1;
    bool damaged = false;
    for (unsigned c = 0; c < 2; c++) {
      const PoolRecord &r = copies[c];
      if (allZero(&r, sizeof r)) continue;
      bool valid = r.magic == RECORD_MAGIC && r.checksum == recordChecksum(r, i, c) && r.size == segmentSize_ &&
                   r.dirtyBegin < r.dirtyEnd && r.dirtyEnd <= segmentSize_ && r.offset % segmentSize_ == 0 &&
                   (r.flags & RECORD_DIRTY);
      if (!valid)
        damaged = true;
      else if (best < 0 || r.seq > copies[best].seq)
        best = (int)c;
    }
    if (best < 0) {
      if (damaged) {
        corrupt++;
        log(LOG_ERROR, "cache",
            "corrupt cache records in pool %s slot %u (checksums or fields do not match): its segment is not served, "
            "the object falls back to the store", path_.c_str(), i);
      }
      clearRecord(i);
      free_.push_back(i);
      continue;
    }
    if (damaged) torn++;  // the other copy: a record update cut off; the previous record stands
    // Reserved when handed out, so normally a no-op: the clean part is reloaded into it next.
    int reserved = reserve(dataOffset_ + (uint64_t)i * segmentSize_, segmentSize_);
    if (reserved < 0)
      log(LOG_ERROR, "cache", "pool %s slot %u: cannot reserve its blocks: %s", path_.c_str(), i, strerror(-reserved));
    const PoolRecord &r = copies[best];
    lastCopy_[i] = (uint8_t)best;
    RecoveredSegment s;
    s.slot.data = slotData(i);
    s.slot.desc = mr_.desc(base_ + dataOffset_, slots_ * segmentSize_, (size_t)i * segmentSize_);
    s.slot.pool = index_;
    s.slot.index = i;
    s.record.id = ObjectId{r.low, r.high};
    s.record.offset = r.offset;
    s.record.dirtyBegin = r.dirtyBegin;
    s.record.dirtyEnd = r.dirtyEnd;
    s.seq = r.seq;
    out.push_back(s);
    found++;
  }
  // Free slots may still hold data a crash left behind: empty them, a run at a time (kept
  // slots keep their blocks and are zeroed when handed out).
  for (size_t a = 0; a < free_.size();) {
    if (free_[a] < keptSlots_) {
      stale_[free_[a++]] = true;
      continue;
    }
    size_t b = a + 1;
    while (b < free_.size() && free_[b] == free_[b - 1] + 1) b++;
    punch(free_[a], (uint32_t)(b - a));
    a = b;
  }
  std::reverse(free_.begin(), free_.end());  // low indexes first
  if (found || corrupt || torn)
    log(LOG_INFO, "cache", "pool %s: recovered %zu dirty segments (%zu from their previous record: the newer one was torn), "
        "%zu slots with only corrupt records", path_.c_str(), found, torn, corrupt);
}

PoolRecord *PmemPool::tombstone(size_t slot) const {
  return reinterpret_cast<PoolRecord *>(base_ + TOMBSTONES_OFFSET + slot * sizeof(PoolRecord));
}

int PmemPool::writeTombstone(const ObjectId &id, uint64_t seq) {
  for (size_t i = 0; i < TOMBSTONES; i++) {
    if (tombstoneUsed_[i]) continue;
    PoolRecord r{};
    r.magic = RECORD_MAGIC;
    r.flags = RECORD_TOMBSTONE;
    r.high = id.high;
    r.low = id.low;
    r.seq = seq;
    r.checksum = tombstoneChecksum(r, i);
    *tombstone(i) = r;
    persist(tombstone(i), sizeof r);
    tombstoneUsed_[i] = true;
    return (int)i;
  }
  return -EBUSY;
}

void PmemPool::clearTombstone(int slot) {
  if (slot < 0 || (size_t)slot >= TOMBSTONES) return;
  memset(tombstone(slot), 0, sizeof(PoolRecord));
  persist(tombstone(slot), sizeof(PoolRecord));
  tombstoneUsed_[slot] = false;
}

void PmemPool::recoverTombstones(std::vector<Tombstone> &out) {
  for (size_t i = 0; i < TOMBSTONES; i++) {
    PoolRecord r = *tombstone(i);
    if (allZero(&r, sizeof r)) continue;
    if (r.magic != RECORD_MAGIC || r.flags != RECORD_TOMBSTONE || r.checksum != tombstoneChecksum(r, i)) {
      // Torn while written: the delete had not begun (it starts once this is durable).
      log(LOG_WARN, "cache", "pool %s: a damaged delete tombstone (slot %zu) is dropped: that delete never began",
          path_.c_str(), i);
      clearTombstone((int)i);
      continue;
    }
    tombstoneUsed_[i] = true;
    out.push_back(Tombstone{ObjectId{r.low, r.high}, r.seq, (int)i});
  }
}

PmemSegmentMemory::PmemSegmentMemory(fabric::Transport &transport, const std::vector<std::string> &dirs,
                                     size_t segmentSize, size_t slots, uint64_t prefault)
    : segmentSize_(segmentSize) {
  size_t per = (slots + dirs.size() - 1) / dirs.size();
  for (size_t i = 0; i < dirs.size(); i++)
    pools_.emplace_back(new PmemPool(dirs[i], (uint32_t)i, segmentSize, per, transport));
  size_t keep = (size_t)(prefault / segmentSize + dirs.size() - 1) / dirs.size();
  for (auto &p : pools_) p->prefault(keep);
}

int PmemSegmentMemory::allocate(SegmentSlot &out, bool populate, bool overwrite) {
  // Round-robin over the directories, so that segments (and bandwidth) spread across them.
  int ret = -ENOMEM;
  for (size_t n = 0; n < pools_.size(); n++) {
    PmemPool &p = *pools_[next_];
    next_ = (next_ + 1) % pools_.size();
    int r = p.allocate(out, populate && (p.isPmem() || overwrite), overwrite);
    if (r == 0) return 0;
    if (ret == -ENOMEM) ret = r;  // a full filesystem says more than a pool without free slots
  }
  return ret;
}

void PmemSegmentMemory::release(const SegmentSlot &slot) { pools_[slot.pool]->release(slot.index); }

size_t PmemSegmentMemory::capacity() const {
  size_t n = 0;
  for (auto &p : pools_) n += p->slots();
  return n;
}

std::vector<size_t> PmemSegmentMemory::usedPerPool() const {
  std::vector<size_t> v;
  for (auto &p : pools_) v.push_back(p->used());
  return v;
}

std::string PmemSegmentMemory::describe() const {
  std::string s;
  for (auto &p : pools_) s += (s.empty() ? "" : ",") + p->path() + (p->isPmem() ? "(pmem)" : "(msync)");
  return s;
}

void PmemSegmentMemory::persistData(const SegmentSlot &slot, size_t offset, size_t len) {
  if (len) pools_[slot.pool]->persist(slot.data + offset, len);
}

void PmemSegmentMemory::writeRecord(const SegmentSlot &slot, const SegmentRecord &rec) {
  pools_[slot.pool]->writeRecord(slot.index, rec, seq_++);
}

void PmemSegmentMemory::clearRecord(const SegmentSlot &slot) { pools_[slot.pool]->clearRecord(slot.index); }

void PmemSegmentMemory::persistBatch(const std::vector<DataRange> &data,
                                     const std::vector<std::pair<SegmentSlot, SegmentRecord>> &records) {
  // Data of every write in the batch, then their records: a record never names bytes that
  // are not durable, and the whole batch costs two flushes per pool instead of two per write.
  std::vector<bool> touched(pools_.size(), false);
  for (const DataRange &d : data) {
    if (!d.len) continue;
    pools_[d.slot.pool]->flush(d.slot.data + d.offset, d.len);
    touched[d.slot.pool] = true;
  }
  for (size_t i = 0; i < pools_.size(); i++)
    if (touched[i]) pools_[i]->drain();
  std::fill(touched.begin(), touched.end(), false);
  for (const auto &r : records) {
    pools_[r.first.pool]->writeRecord(r.first.index, r.second, seq_++, false);
    touched[r.first.pool] = true;
  }
  for (size_t i = 0; i < pools_.size(); i++)
    if (touched[i]) pools_[i]->drain();
}

std::vector<RecoveredSegment> PmemSegmentMemory::recover() {
  std::vector<RecoveredSegment> out;
  for (auto &p : pools_) p->recover(out);
  for (auto &s : out) seq_ = std::max(seq_, s.seq + 1);
  return out;
}

int PmemSegmentMemory::writeTombstone(const ObjectId &id, uint64_t &seq) {
  seq = seq_;
  int slot = pools_[0]->writeTombstone(id, seq);
  if (slot >= 0) seq_++;
  return slot;
}

// Slots name the pool too (pool * TOMBSTONES + slot): written in the first pool, found in any
// (the directories may be given in another order after a restart).
void PmemSegmentMemory::clearTombstone(int slot) {
  if (slot >= 0 && (size_t)slot / PmemPool::TOMBSTONES < pools_.size())
    pools_[slot / PmemPool::TOMBSTONES]->clearTombstone(slot % PmemPool::TOMBSTONES);
}

std::vector<Tombstone> PmemSegmentMemory::recoverTombstones() {
  std::vector<Tombstone> out;
  for (size_t p = 0; p < pools_.size(); p++) {
    size_t first = out.size();
    pools_[p]->recoverTombstones(out);
    for (size_t i = first; i < out.size(); i++) out[i].slot += (int)(p * PmemPool::TOMBSTONES);
  }
  for (auto &t : out) seq_ = std::max(seq_, t.seq + 1);
  return out;
}

}  // namespace server
}  // namespace ioc
