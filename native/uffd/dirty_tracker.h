// Finds the pages written since the last write-back and write-protects them again, so that the
// next write is seen too. Two implementations, chosen per mapping:
//  - AsyncWpTracker: UFFD_FEATURE_WP_ASYNC; writes to protected pages are resolved by the kernel
//    without a message, PAGEMAP_SCAN (PAGE_IS_WRITTEN, PM_SCAN_WP_MATCHING) lists and re-protects
//    them in one call at sync time. No fault per write.
//  - FaultWpTracker: synchronous write-protect faults; the handler records the page in a bitmap
//    and unprotects it. Works on any kernel with UFFD WP.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace ummap {

class UffdContext;

struct PageRun {
  size_t offset;  // from the mapping's base, page aligned
  size_t length;
};

class DirtyTracker {
 public:
  virtual ~DirtyTracker() = default;
  // Append the written runs of [offset, offset+length) to out and write-protect them again.
  // 0 or -errno.
  virtual int collect(size_t offset, size_t length, std::vector<PageRun>& out) = 0;
  // A write-protect fault on the page at offset (FaultWpTracker only).
  virtual void onWriteFault(size_t pageOffset) {}
  // Mark a run dirty again after a failed write-back, so it is retried later.
  virtual void markDirty(size_t offset, size_t length) = 0;
  // Forget a dropped range (after MADV_DONTNEED) and reset its protection.
  virtual void forget(size_t offset, size_t length) = 0;
};

std::unique_ptr<DirtyTracker> makeDirtyTracker(const UffdContext& ctx, uint8_t* base, size_t length);

}  // namespace ummap
