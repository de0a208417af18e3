// Persistent-memory segment pools (-n/--nvdimm DIR[,DIR...]): one file per directory, mapped
// with libpmem, holding segment slots plus two checksummed records per slot, written in turn,
// so that a server killed at any point restarts with every acknowledged write (where the
// original kept segments in unlinked files, lost at any crash): a record torn by a power loss
// while it is written fails its checksum, and the slot's previous record still stands.
//
// The file is sparse (it has room for more slots than the cache holds); the header and records
// are given blocks at start and a slot's blocks when it is handed out, so that a full filesystem
// fails that allocation (ENOSPC) instead of raising SIGBUS in a store to the mapping.
//
// File layout (DIR/iocatcher-pool, native endian):
//   [0, 1024)               PoolHeader
//   [1024, 4096)            tombstones (PoolRecords flagged RECORD_TOMBSTONE, one copy each:
//                           deletes under way; all zeros: none). Pools written before deletes
//                           existed hold zeros there: the format is the same.
//   [4096, +128*slots)      two PoolRecords per slot (all zeros: no record); the valid one
//                           with the higher seq is the slot's record
//   [dataOffset, ...)       slots of segmentSize bytes (dataOffset 2 MiB aligned)
//
// The format's constants and checksums: pmem_pool_format.h. PmemPool: the file in
// pmem_pool.cc, its records in pmem_pool_records.cc, their recovery in pmem_pool_recovery.cc;
// PmemSegmentMemory: pmem_segment_memory.cc.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/prefaulter.h"
#include "server/segment_memory.h"

namespace ioc {
namespace server {

struct PoolHeader {
  char magic[8];  // "IOCPOOL1"
  uint32_t version;
  uint32_t reserved;
  uint64_t segmentSize;
  uint64_t slots;
  uint64_t recordsOffset;
  uint64_t dataOffset;
  uint64_t checksum;  // of the bytes above
};

struct PoolRecord {
  uint32_t magic;  // RECORD_MAGIC
  uint32_t flags;  // RECORD_DIRTY
  int64_t high, low;
  uint64_t offset;       // segment offset in the object
  uint64_t size;         // segment size
  uint32_t dirtyBegin, dirtyEnd;
  uint64_t seq;          // write order: the newest record wins if two ever name one segment
  uint64_t checksum;     // of the bytes above and the slot index
};
static_assert(sizeof(PoolRecord) == 64, "one record per cache line");

// One pool file.
class PmemPool {
 public:
  // Opens DIR/iocatcher-pool (creating a sparse one of `slots` slots), locks it against a second
  // server, checks its header. An existing pool keeps its own slot count.
  PmemPool(const std::string &dir, uint32_t index, size_t segmentSize, size_t slots, fabric::Transport &transport);
  ~PmemPool();
  // 0, -ENOMEM (no free slot) or -ENOSPC (the filesystem cannot back another slot).
  // populate: map its pages now (it is about to be written). overwrite: see SegmentMemory.
  int allocate(SegmentSlot &out, bool populate, bool overwrite);
  void release(uint32_t slot);
  // Give the first `slots` slots their blocks and map their pages in the background (idle
  // priority), and keep them when released (as AnonymousSegmentMemory does with --prefault).
  void prefault(size_t slots);
  void persist(const void *addr, size_t len);
  // Group commit: flush() ranges (a cache flush on persistent memory, nothing on a file), then
  // one drain() makes all of them durable (a fence, or one fdatasync of the pool file).
  void flush(const void *addr, size_t len);
  void drain();
  // persistNow false: the caller drains later.
  void writeRecord(uint32_t slot, const SegmentRecord &rec, uint64_t seq, bool persistNow = true);
  void clearRecord(uint32_t slot);
  // Scans the records: the newest valid dirty record of each slot is returned (the slot stays
  // in use), a slot with no valid record but a damaged one is reported; every other slot is
  // emptied and freed.
  void recover(std::vector<RecoveredSegment> &out);
  // Tombstones (SegmentMemory::writeTombstone): their own small area, persisted at once.
  static constexpr size_t TOMBSTONES = 48;
  int writeTombstone(const ObjectId &id, uint64_t seq);  // the slot, or -EBUSY when all are taken
  void clearTombstone(int slot);
  void recoverTombstones(std::vector<Tombstone> &out);
  size_t slots() const { return slots_; }
  size_t used() const { return slots_ - free_.size(); }
  bool isPmem() const { return isPmem_; }
  const std::string &path() const { return path_; }

 private:
  // An existing pool's header, checked (throws on a mismatch); false: a pool to initialise.
  bool readHeader();
  void writeHeader();
  PoolRecord *record(uint32_t slot, unsigned copy) const;
  int newestRecord(uint32_t slot, bool &damaged) const;
  void emptyFreeSlots();
  PoolRecord *tombstone(size_t slot) const;
  std::vector<bool> tombstoneUsed_ = std::vector<bool>(TOMBSTONES, false);
  uint64_t slotOffset(uint32_t slot) const { return dataOffset_ + (uint64_t)slot * segmentSize_; }
  char *slotData(uint32_t slot) const { return base_ + slotOffset(slot); }
  SegmentSlot slotAt(uint32_t slot);  // the slot as the cache knows it (data, descriptor, place)
  void punch(uint32_t first, uint32_t count);  // give slot pages back (they read as zeros)
  // Give the filesystem's blocks to [offset, offset+len) now: a store into a page of a sparse
  // mapping that a full filesystem cannot back raises SIGBUS. 0 or a negative errno.
  int reserve(uint64_t offset, uint64_t len);

  std::string path_;
  uint32_t index_;
  size_t segmentSize_, slots_ = 0;
  uint64_t dataOffset_ = 0;
  int fd_ = -1;
  char *base_ = nullptr;
  size_t mappedLen_ = 0;
  int isPmem_ = 0;
  std::vector<uint32_t> free_;
  std::vector<uint8_t> lastCopy_;  // per slot: which of its two records was written last
  ChunkRegistrar mr_;
  size_t keptSlots_ = 0;           // slots [0, keptSlots_) keep their blocks and pages when released
  std::vector<bool> stale_;        // kept slot still holding a released segment's bytes
  // A failed fallocate on tmpfs takes back every not-yet-written page of its range, also ones
  // allocate() just reserved: the two never run at once while the prefaulter works.
  std::mutex prefaultMu_;
  Prefaulter prefaulter_;
};

// Slots spread over several pools, handed out round-robin across the directories.
class PmemSegmentMemory : public SegmentMemory {
 public:
  PmemSegmentMemory(fabric::Transport &transport, const std::vector<std::string> &dirs, size_t segmentSize,
                    size_t slots, uint64_t prefault = 0);
  int allocate(SegmentSlot &out, bool populate = true, bool overwrite = false) override;
  void release(const SegmentSlot &slot) override;
  size_t segmentSize() const override { return segmentSize_; }
  size_t capacity() const override;
  std::vector<size_t> usedPerPool() const override;
  std::string describe() const override;
  bool durable() const override { return true; }
  void persistData(const SegmentSlot &slot, size_t offset, size_t len) override;
  void writeRecord(const SegmentSlot &slot, const SegmentRecord &rec) override;
  void clearRecord(const SegmentSlot &slot) override;
  void persistBatch(const std::vector<DataRange> &data,
                    const std::vector<std::pair<SegmentSlot, SegmentRecord>> &records) override;
  std::vector<RecoveredSegment> recover() override;
  // Written in the first pool.
  int writeTombstone(const ObjectId &id, uint64_t &seq) override;
  void clearTombstone(int slot) override;
  std::vector<Tombstone> recoverTombstones() override;

 private:
  size_t segmentSize_;
  std::vector<std::unique_ptr<PmemPool>> pools_;
  size_t next_ = 0;
  uint64_t seq_ = 1;
};

}  // namespace server
}  // namespace ioc
