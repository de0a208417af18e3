// Snapshots by moving pages: an asynchronous sync moves each large dirty run out of the mapping
// with mremap(MREMAP_DONTUNMAP) instead of copying it (about 1 ms per GiB against 60 ms for
// the copy, on the caller's thread), writes it from where it went, and moves it back when the
// write-back is done. Meanwhile the mapping's range is empty: a touch there faults, and the
// handler copies that segment's part back from the moved pages (the application goes on with
// the content as of the call, and its writes are dirty again for the next sync). The uffd
// context has UFFD_FEATURE_EVENT_REMAP, so the moved range stays registered and the pages keep
// their write protection (clean) both ways. mremap waits for the fault reader to read the
// event: every move happens under a FaultsHeld (fault_reader.h).
#include <errno.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "fault_reader.h"
#include "mapping.h"
#include "mapping_internal.h"
#include "uffd_abi.h"

namespace ummap {
using namespace detail;

namespace {
constexpr size_t kHuge = size_t{2} << 20;

// Move [from, from+length) to a range of its own with the same offset inside a 2 MiB block
// (whole page tables then move, not entries one by one). nullptr when it cannot.
uint8_t* moveAway(uint8_t* from, size_t length) {
  size_t reserved = length + 2 * kHuge;
  void* r = mmap(nullptr, reserved, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (r == MAP_FAILED) return nullptr;
  auto* res = static_cast<uint8_t*>(r);
  uintptr_t block = (reinterpret_cast<uintptr_t>(res) + kHuge - 1) & ~(kHuge - 1);
  auto* at = reinterpret_cast<uint8_t*>(block + (reinterpret_cast<uintptr_t>(from) & (kHuge - 1)));
  void* moved = mremap(from, length, length, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, at);
  if (moved == MAP_FAILED) {
    munmap(res, reserved);
    return nullptr;
  }
  if (at > res) munmap(res, at - res);
  if (res + reserved > at + length) munmap(at + length, res + reserved - (at + length));
  return at;
}

// Calls fn(from, to) for each stretch of [from, to) that none of parts ([first, second)) covers.
template <class Fn>
void forEachGap(std::vector<std::pair<size_t, size_t>> parts, size_t from, size_t to, Fn fn) {
  std::sort(parts.begin(), parts.end());
  size_t at = from;
  for (const auto& part : parts) {
    if (part.first > at) fn(at, std::min(part.first, to));
    at = std::max(at, part.second);
    if (at >= to) return;
  }
  if (at < to) fn(at, to);
}
}  // namespace

bool Mapping::movesSnapshots() const {
  if (options_.tunables.copySnapshots) return false;
  return wpAsync() && ctx_.hasFeature(UFFD_FEATURE_EVENT_REMAP);
}

void Mapping::moveOut(WriteBackJob& job) {
  std::vector<PageRun> notMoved;
  try {
    for (MovedRun& run : job.moved) {
      if (run.pages || run.returned) continue;
      run.pages = moveAway(base_ + run.offset, run.length);
      if (!run.pages) {
        // Cannot move (e.g. no room for another VMA): copied below instead.
        notMoved.push_back({run.offset, run.length});
        run.returned = true;
        continue;
      }
      // The emptied range reads as written until protected (WP_UNPOPULATED markers), as after
      // MADV_DONTNEED.
      ctx_.writeProtect(base_ + run.offset, run.length, true);
      stats_.snapshotMovedBytes += run.length;
      if (run.offset < options_.size) cutIntoPieces(run.offset, run.length, run.pages, pieceBytes(), job.pieces);
    }
    copyRuns(job, notMoved);
  } catch (...) {
    // No memory for the copy (or the pieces): nothing of this snapshot is written; its pages are
    // dirty again for the next write-back, and runWriteBack reports the error. The turn is
    // taken already, so this may not throw.
    moveBack(job);
    for (const WritePiece& piece : job.pieces) dirty_->markDirty(piece.offset, piece.length);
    for (const MovedRun& run : job.moved) dirty_->markDirty(run.offset, run.length);
    job.pieces.clear();
    job.setupError = -ENOMEM;
  }
}

void Mapping::moveBack(WriteBackJob& job) {
  for (MovedRun& run : job.moved) {
    if (run.returned) continue;
    run.returned = true;
    if (!run.pages) continue;
    // Back, but for the parts copied back to faults meanwhile (the mapping's own are newer).
    bool kept = false;
    forEachGap(run.copiedBack, run.offset, run.offset + run.length, [&](size_t from, size_t to) {
      uint8_t* src = run.pages + (from - run.offset);
      size_t length = to - from;
      if (mremap(src, length, length, MREMAP_MAYMOVE | MREMAP_FIXED, base_ + from) != MAP_FAILED) return;
      // Cannot move back (no room for a VMA): copy in, write-protected (clean) as they were.
      int ret = ctx_.copy(base_ + from, src, length, true);
      if (ret < 0) {
        kept = true;  // never unmapped: the only place these bytes are
        fprintf(stderr, "ummap: cannot move %zu bytes at offset %zu of a snapshot back into the mapping: %s\n", length,
                from, strerror(-ret));
      }
    });
    if (!kept) munmap(run.pages, run.length);  // what is left: the parts copied back
    for (const auto& part : run.redirty) dirty_->markDirty(part.first, part.second - part.first);
  }
}

void Mapping::returnMovedPages(std::unique_lock<std::mutex>& lock, WriteBackJob& job) {
  if (!lock.owns_lock()) lock.lock();
  bool any = false;
  for (const MovedRun& run : job.moved) any = any || !run.returned;
  if (!any) return;
  lock.unlock();
  FaultsHeld held;
  lock.lock();
  moveBack(job);
}

bool Mapping::serveMovedPage(size_t pageOffset) {
  for (WriteBackJob* job : pendingJobs_) {
    for (MovedRun& run : job->moved) {
      if (!run.holds(pageOffset)) continue;
      size_t seg = pageOffset / options_.segmentSize;
      size_t from = std::max(seg * options_.segmentSize, run.offset);
      size_t to = std::min(seg * options_.segmentSize + segmentBytes(seg), run.offset + run.length);
      if (!run.pages) {
        // Not moved yet (the pages are still here): the access goes on.
        ctx_.wake(base_ + pageOffset, kPageSize);
        return true;
      }
      // Clean, as the moved pages are: the application's next write makes them dirty.
      int ret = ctx_.copy(base_ + from, run.pages + (from - run.offset), to - from, !options_.readOnly);
      if (ret < 0) {
        stats_.ioErrors++;
        fprintf(stderr, "ummap: cannot copy back moved pages at offset %zu: %s\n", from, strerror(-ret));
        ctx_.wake(base_ + pageOffset, kPageSize);
        return true;
      }
      run.copiedBack.push_back({from, to});
      stats_.faults++;
      return true;
    }
  }
  return false;
}

void Mapping::markDirtyResident(size_t offset, size_t length) {
  size_t end = offset + length;
  std::vector<std::pair<size_t, size_t>> away;  // parts moved out
  for (WriteBackJob* job : pendingJobs_)
    for (MovedRun& run : job->moved)
      if (run.overlaps(offset, end)) {
        size_t from = std::max(offset, run.offset), to = std::min(end, run.offset + run.length);
        run.redirty.push_back({from, to});
        away.push_back({from, to});
      }
  forEachGap(std::move(away), offset, end, [&](size_t from, size_t to) { dirty_->markDirty(from, to - from); });
}

}  // namespace ummap
