#include "dirty_tracker.h"

#include <errno.h>

#include "uffd_abi.h"
#include "uffd_context.h"

namespace ummap {
namespace {

class AsyncWpTracker : public DirtyTracker {
 public:
  AsyncWpTracker(const UffdContext& ctx, uint8_t* base) : ctx_(ctx), base_(base) {}

  int collect(size_t offset, size_t length, std::vector<PageRun>& out) override {
    page_region regions[256];
    uint64_t start = reinterpret_cast<uint64_t>(base_ + offset);
    const uint64_t end = start + length;
    while (start < end) {
      pm_scan_arg arg = {};
      arg.size = sizeof(arg);
      arg.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
      arg.start = start;
      arg.end = end;
      arg.vec = reinterpret_cast<uint64_t>(regions);
      arg.vec_len = 256;
      arg.category_mask = PAGE_IS_WRITTEN;
      arg.return_mask = PAGE_IS_WRITTEN;
      int n = ioctl(pagemapFd(), PAGEMAP_SCAN, &arg);
      if (n < 0) return -errno;
      for (int i = 0; i < n; i++) {
        auto* p = reinterpret_cast<uint8_t*>(regions[i].start);
        out.push_back({static_cast<size_t>(p - base_), static_cast<size_t>(regions[i].end - regions[i].start)});
      }
      // walk_end is not reliable: only a full result buffer means there may be more.
      if (n < 256) break;
      start = regions[n - 1].end;
    }
    return 0;
  }

  void markDirty(size_t offset, size_t length) override { ctx_.writeProtect(base_ + offset, length, false); }

  // After MADV_DONTNEED, protect the range again: with WP_UNPOPULATED the empty entries get
  // markers, so untouched pages never report as written.
  void forget(size_t offset, size_t length) override { ctx_.writeProtect(base_ + offset, length, true); }

 private:
  const UffdContext& ctx_;
  uint8_t* base_;
};

class FaultWpTracker : public DirtyTracker {
 public:
  FaultWpTracker(const UffdContext& ctx, uint8_t* base, size_t length)
      : ctx_(ctx), base_(base), bits_((length / kPageSize + 63) / 64, 0) {}

  int collect(size_t offset, size_t length, std::vector<PageRun>& out) override {
    size_t first = offset / kPageSize, last = (offset + length) / kPageSize;
    size_t page = first;
    size_t firstRun = out.size();
    while (page < last) {
      // Skip clean words quickly: a 1 GiB mapping is 4096 words.
      if ((page & 63) == 0 && page + 64 <= last && bits_[page / 64] == 0) {
        page += 64;
        continue;
      }
      if (!test(page)) {
        page++;
        continue;
      }
      size_t runStart = page;
      while (page < last && test(page)) clear(page++);
      out.push_back({runStart * kPageSize, (page - runStart) * kPageSize});
    }
    // Protect before the caller writes the runs back: a write racing with the write-back then
    // faults again and is recorded, never lost. One ioctl per run: protecting a whole span at
    // once rewrites every present entry in it, far dearer when dirty pages are sparse.
    for (size_t r = firstRun; r < out.size(); r++) {
      int ret = ctx_.writeProtect(base_ + out[r].offset, out[r].length, true);
      if (ret < 0) return ret;
    }
    return 0;
  }

  void onWriteFault(size_t pageOffset) override {
    set(pageOffset / kPageSize);
    ctx_.writeProtect(base_ + pageOffset, kPageSize, false);  // also wakes the writer
  }

  void markDirty(size_t offset, size_t length) override {
    for (size_t p = offset / kPageSize; p < (offset + length) / kPageSize; p++) set(p);
  }

  void forget(size_t offset, size_t length) override {
    for (size_t p = offset / kPageSize; p < (offset + length) / kPageSize; p++) clear(p);
  }

 private:
  bool test(size_t p) const { return bits_[p / 64] >> (p % 64) & 1; }
  void set(size_t p) { bits_[p / 64] |= uint64_t(1) << (p % 64); }
  void clear(size_t p) { bits_[p / 64] &= ~(uint64_t(1) << (p % 64)); }

  const UffdContext& ctx_;
  uint8_t* base_;
  std::vector<uint64_t> bits_;
};

}  // namespace

std::unique_ptr<DirtyTracker> makeDirtyTracker(const UffdContext& ctx, uint8_t* base, size_t length) {
  if (ctx.tracking() == DirtyTracking::WpAsync) return std::make_unique<AsyncWpTracker>(ctx, base);
  return std::make_unique<FaultWpTracker>(ctx, base, length);
}

}  // namespace ummap
