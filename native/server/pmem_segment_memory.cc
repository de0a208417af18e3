// PmemSegmentMemory: the cache's slots spread over one PmemPool per --nvdimm directory, and the
// write order (seq) of the records written in them.
#include <errno.h>

#include <algorithm>

#include "server/pmem_pool.h"

namespace ioc {
namespace server {

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
  // are not durable, and the whole batch costs two drains per pool instead of two per write.
  std::vector<bool> touched(pools_.size(), false);
  auto drainTouched = [&] {
    for (size_t i = 0; i < pools_.size(); i++)
      if (touched[i]) pools_[i]->drain();
    std::fill(touched.begin(), touched.end(), false);
  };
  for (const DataRange &d : data) {
    if (!d.len) continue;
    pools_[d.slot.pool]->flush(d.slot.data + d.offset, d.len);
    touched[d.slot.pool] = true;
  }
  drainTouched();
  for (const auto &r : records) {
    pools_[r.first.pool]->writeRecord(r.first.index, r.second, seq_++, false);
    touched[r.first.pool] = true;
  }
  drainTouched();
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
