#include "server/segment_memory.h"

#include "server/log.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "common/thread_name.h"

namespace ioc {
namespace server {

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14; Debian's 6.1 headers may lack it
#endif

void populate(void *addr, size_t len) {
  // One call maps the whole range, far faster than a transfer taking a page fault per 4 KiB page.
  // Aligned inward: the partial pages at the ends fault as usual.
  uintptr_t page = 4096, start = ((uintptr_t)addr + page - 1) & ~(page - 1), end = ((uintptr_t)addr + len) & ~(page - 1);
  if (end > start) madvise((void *)start, end - start, MADV_POPULATE_WRITE);  // best effort (older kernels: EINVAL)
}

void lowerPrefaultPriority() { (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10); }  // best effort

void *ChunkRegistrar::desc(char *base, size_t totalBytes, size_t offset) {
  if (!transport_.needsLocalMr()) return nullptr;
  char *start = base + offset - offset % chunkBytes_;
  for (auto &r : regions_)
    if (r.first == start) return r.second.desc();
  size_t len = std::min(chunkBytes_, totalBytes - (size_t)(start - base));
  fabric::MemoryRegion mr(transport_.domain, transport_.info, start, len, FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE, nextKey_++);
  void *d = mr.desc();
  regions_.emplace_back(start, std::move(mr));
  return d;
}

// Chunks of about 256 MiB, whole slots each, so that no slot straddles two registrations.
static size_t chunkBytesFor(size_t segmentSize) { return segmentSize * std::max<size_t>(1, (256u << 20) / segmentSize); }

AnonymousSegmentMemory::AnonymousSegmentMemory(fabric::Transport &transport, size_t segmentSize, size_t slots,
                                               uint64_t prefault, uint64_t limit)
    : segmentSize_(segmentSize), slots_(slots), stale_(slots, false), mr_(transport, chunkBytesFor(segmentSize), 1) {
  void *p = mmap(nullptr, segmentSize * slots, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error("cannot reserve memory for the segment cache");
  base_ = static_cast<char *>(p);
  madvise(base_, segmentSize * slots, MADV_HUGEPAGE);  // best effort: THP may be off
  for (size_t i = slots; i-- > 0;) free_.push_back((uint32_t)i);
  limitSlots_ = std::min<uint64_t>(slots, limit / segmentSize);
  aheadSlots_ = std::min<uint64_t>(limitSlots_, prefault / segmentSize);
  if (aheadSlots_ > 0) startPrefault();
}

AnonymousSegmentMemory::~AnonymousSegmentMemory() {
  prefaulter_.stop();
  munmap(base_, segmentSize_ * slots_);
}

// Kept ahead of the highest slot in use; only while no request moved data for a moment:
// faulting memory in beside a burst (or the reads that follow it) slows the transfer (on a VM
// the pages' first touch also costs the host), low priority or not. Kept slots are never given
// back, and allocation takes low slots first, the ones populated first.
void AnonymousSegmentMemory::startPrefault() {
  Prefaulter::Plan plan;
  plan.slotSize = segmentSize_;
  plan.target = [this] { return std::min(limitSlots_, inUseEnd_.load() + aheadSlots_); };
  plan.mayWork = [this] {
    auto sinceUse = std::chrono::steady_clock::now().time_since_epoch().count() - lastUseAt_.load();
    return sinceUse >= std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::milliseconds(300)).count();
  };
  plan.fill = [this](size_t first, size_t n) {
    populate(base_ + first * segmentSize_, n * segmentSize_);
    return true;
  };
  plan.reached = [this](size_t slots, double secs) {
    log(LOG_INFO, "cache", "%zu MiB of segment memory prefaulted in %.1f s (--prefault; kept that far ahead of use)",
        (slots * segmentSize_) >> 20, secs);
  };
  prefaulter_.start(std::move(plan));
}

int AnonymousSegmentMemory::allocate(SegmentSlot &out, bool populateNow, bool overwrite) {
  if (free_.empty()) return -ENOMEM;
  uint32_t i = free_.back();
  void *desc = mr_.desc(base_, segmentSize_ * slots_, (size_t)i * segmentSize_);  // may throw: slot stays free
  free_.pop_back();
  out.data = base_ + (size_t)i * segmentSize_;  // the request allocating it has called noteUse()
  if (aheadSlots_ > 0 && i + 1 > inUseEnd_.load()) {
    inUseEnd_.store(i + 1);
    prefaulter_.wake();  // it keeps its distance
  }
  if (stale_[i]) {
    // A recycled slot: its pages are there; only its old bytes may need to go.
    stale_[i] = false;
    if (!populateNow) madvise(out.data, segmentSize_, MADV_DONTNEED);  // zeros of an absent object
    else if (!overwrite) memset(out.data, 0, segmentSize_);
  } else if (populateNow) {
    populate(out.data, segmentSize_);
  }
  out.desc = desc;
  out.pool = 0;
  out.index = i;
  return 0;
}

void AnonymousSegmentMemory::noteUse() {
  if (aheadSlots_ > 0) lastUseAt_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
}

void AnonymousSegmentMemory::release(const SegmentSlot &slot) {
  if (slot.index < prefaulter_.populated()) {
    stale_[slot.index] = true;  // kept populated for the next segment
  } else {
    // Private anonymous pages: DONTNEED frees them and the slot reads as zeros again.
    madvise(slot.data, segmentSize_, MADV_DONTNEED);
  }
  free_.push_back(slot.index);
}

}  // namespace server
}  // namespace ioc
