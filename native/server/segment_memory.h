// Where cached segments live: fixed-size slots carved out of a few large mappings (pools), so
// that libfabric registration happens once per pool chunk, and a dropped segment gives its pages
// back. Plain memory (AnonymousSegmentMemory) or persistent memory (PmemSegmentMemory, in
// pmem_pool.h), which also keeps a checksummed record per dirty slot for crash recovery.
#pragma once

#include <errno.h>

#include <cstddef>
#include <cstdint>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fabric/fabric.h"
#include "server/prefaulter.h"
#include "fabric/protocol.h"

namespace ioc {
namespace server {

using proto::ObjectId;

// Fault in the pages of [addr, addr+len) in one call, before data lands in them (best effort).
void populate(void *addr, size_t len);

// The priority of the background prefault threads (here and in the pmem pool): below the
// request loop, never starved. At SCHED_IDLE, a thread that busy processes keep off the CPUs
// holds what it holds (the process's mmap lock in MADV_POPULATE_WRITE, the pool's prefault lock)
// for seconds, and the request loop waits behind it: beside three busy processes on 2 CPUs a
// connection handshake took 1.3-3.7 s, and tests timed out. Nice 10 gets about a tenth of a
// contended CPU, so such a wait stays short.
void lowerPrefaultPriority();

// Bytes the prefault threads populate per step (the lock above is held for one step).
constexpr size_t kPrefaultStep = 8u << 20;

struct SegmentSlot {
  char *data = nullptr;
  void *desc = nullptr;  // libfabric descriptor of the slot's chunk (nullptr when none is needed)
  uint32_t pool = 0, index = 0;
};

// What a persistent slot holds: the dirty part of one segment of one object.
struct SegmentRecord {
  ObjectId id;
  uint64_t offset = 0;  // segment offset in the object
  uint32_t dirtyBegin = 0, dirtyEnd = 0;
};

struct RecoveredSegment {
  SegmentSlot slot;
  SegmentRecord record;
  uint64_t seq = 0;  // newer records have larger numbers
};

// A delete under way (durable memory): the object's records older than seq are dead, and its
// store object is to be removed. Written before the delete touches anything, cleared once it is
// complete; one found at start is a delete cut off by a crash, which the cache completes.
struct Tombstone {
  ObjectId id;
  uint64_t seq = 0;
  int slot = -1;  // where it is kept (for clearTombstone)
};

class SegmentMemory {
 public:
  virtual ~SegmentMemory() = default;
  // A free, zero-filled slot of segmentSize() bytes: 0, -ENOMEM when every slot is in use,
  // -ENOSPC when the memory's filesystem has no room for another slot.
  // populate: fault its pages in now (the slot is about to be written); a slot only read
  // (zeros of an absent object) maps the zero page instead.
  // overwrite: the caller writes the whole slot before anybody reads it (or drops the slot), so
  // a recycled slot may keep its old bytes instead of being zeroed.
  virtual int allocate(SegmentSlot &out, bool populate = true, bool overwrite = false) = 0;
  // Forget the slot's record and give its pages back; the slot becomes free.
  virtual void release(const SegmentSlot &slot) = 0;
  virtual size_t segmentSize() const = 0;
  virtual size_t capacity() const = 0;  // slots in all pools
  // Slots in use, per pool (for the stats line).
  virtual std::vector<size_t> usedPerPool() const = 0;
  virtual std::string describe() const = 0;
  // A request is moving data through the cache (SegmentCache::access, before any allocate()):
  // background population waits for a quiet moment (it takes CPU, and on a VM the host's too,
  // from the transfer).
  virtual void noteUse() {}

  // Crash-consistency hooks; plain memory keeps nothing across a restart.
  virtual bool durable() const { return false; }
  // Make [offset, offset+len) of the slot's data durable.
  virtual void persistData(const SegmentSlot &, size_t offset, size_t len) {}
  // Durably record that the slot holds rec's dirty bytes (after persistData of those bytes).
  virtual void writeRecord(const SegmentSlot &, const SegmentRecord &) {}
  // Durably forget the slot's record (its data is in the store, or obsolete).
  virtual void clearRecord(const SegmentSlot &) {}
  // Group commit: persistData of every range, then writeRecord of every record, sharing the
  // flushes (one drain or fdatasync per pool for the data, one for the records).
  struct DataRange {
    SegmentSlot slot;
    size_t offset, len;
  };
  virtual void persistBatch(const std::vector<DataRange> &data,
                            const std::vector<std::pair<SegmentSlot, SegmentRecord>> &records) {
    for (const DataRange &d : data) persistData(d.slot, d.offset, d.len);
    for (const auto &r : records) writeRecord(r.first, r.second);
  }
  // Valid records found at start (corrupt ones are reported and their slots freed).
  virtual std::vector<RecoveredSegment> recover() { return {}; }
  // Durably write a tombstone for id (numbered after every record written so far): its slot,
  // or -EBUSY while every tombstone slot is taken (deletes under way), -ENOSYS without
  // durable memory.
  virtual int writeTombstone(const ObjectId &, uint64_t &seq) { return -ENOSYS; }
  virtual void clearTombstone(int slot) {}
  // Valid tombstones found at start (call after recover(); they stay until cleared).
  virtual std::vector<Tombstone> recoverTombstones() { return {}; }
};

// Registers a mapping with libfabric lazily, one chunk of slots at a time, when the provider
// asks for FI_MR_LOCAL (none of tcp;ofi_rxm, shm, net does: then it does nothing).
class ChunkRegistrar {
 public:
  ChunkRegistrar(fabric::Transport &transport, size_t chunkBytes, uint64_t firstKey)
      : transport_(transport), chunkBytes_(chunkBytes), nextKey_(firstKey) {}
  // Descriptor for slot memory at base+offset (base: start of a mapping of totalBytes).
  void *desc(char *base, size_t totalBytes, size_t offset);

 private:
  fabric::Transport &transport_;
  size_t chunkBytes_;
  uint64_t nextKey_;
  std::vector<std::pair<char *, fabric::MemoryRegion>> regions_;  // by chunk start
};

// Slots in one anonymous mapping reserved up front (MAP_NORESERVE: pages are committed when
// touched). A background thread at low priority (nice 10) faults in `prefault` bytes of slots at start
// and keeps that much ahead of the highest slot in use, up to `limit` (the cache size);
// populated slots keep their pages when their segments are dropped (recycled: zeroed when handed
// out again, unless the new segment is overwritten whole), so that a burst of writes lands in
// memory that is already there. Slots beyond them give their pages back (MADV_DONTNEED).
class AnonymousSegmentMemory : public SegmentMemory {
 public:
  AnonymousSegmentMemory(fabric::Transport &transport, size_t segmentSize, size_t slots, uint64_t prefault = 0,
                         uint64_t limit = UINT64_MAX);
  ~AnonymousSegmentMemory() override;
  int allocate(SegmentSlot &out, bool populate = true, bool overwrite = false) override;
  void release(const SegmentSlot &slot) override;
  size_t segmentSize() const override { return segmentSize_; }
  size_t capacity() const override { return slots_; }
  std::vector<size_t> usedPerPool() const override { return {slots_ - free_.size()}; }
  std::string describe() const override { return "memory"; }
  void noteUse() override;

 private:
  void startPrefault();

  size_t segmentSize_, slots_;
  size_t aheadSlots_ = 0, limitSlots_ = 0;  // prefault: this many beyond the highest in use, at most limitSlots_
  std::atomic<size_t> inUseEnd_{0};         // 1 + the highest slot index handed out so far
  std::atomic<int64_t> lastUseAt_{0};       // steady_clock ticks of the last noteUse()
  char *base_ = nullptr;
  std::vector<uint32_t> free_;  // a stack: low indexes first, the last released on top
  std::vector<bool> stale_;     // kept slot still holding a dropped segment's bytes
  ChunkRegistrar mr_;
  Prefaulter prefaulter_;  // slots [0, populated()) are populated and keep their pages
};

}  // namespace server
}  // namespace ioc
