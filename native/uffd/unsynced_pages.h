// The pages of a mapping that its store acknowledged but has not made durable yet (written back
// since the last driver sync), for stores that lose such writes when they restart
// (StorageDriver::volatileEpoch). One bit per page, allocated on first use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "uffd_context.h"

namespace ummap {

class UnsyncedPages {
 public:
  explicit UnsyncedPages(size_t mappedLength) : pages_(mappedLength / kPageSize) {}

  bool empty() const { return count_ == 0; }

  // offset and length page aligned (a trailing partial page counts as a page).
  void add(size_t offset, size_t length) {
    if (bits_.empty()) bits_.assign((pages_ + 63) / 64, 0);
    for (size_t p = offset / kPageSize; p < end(offset, length); p++) {
      if (!test(p)) count_++;
      bits_[p / 64] |= uint64_t(1) << (p % 64);
    }
  }

  void remove(size_t offset, size_t length) {
    if (count_ == 0) return;
    for (size_t p = offset / kPageSize; p < end(offset, length); p++) {
      if (test(p)) count_--;
      bits_[p / 64] &= ~(uint64_t(1) << (p % 64));
    }
  }

  // Calls f(offset, length) for every run of pages in the set, then empties it.
  template <class F>
  void drain(F&& f) {
    size_t p = 0;
    while (count_ > 0 && p < pages_) {
      if (!test(p)) {
        p++;
        continue;
      }
      size_t start = p;
      while (p < pages_ && test(p)) p++;
      f(start * kPageSize, (p - start) * kPageSize);
      count_ -= p - start;
    }
    bits_.assign(bits_.size(), 0);
    count_ = 0;
  }

 private:
  size_t end(size_t offset, size_t length) const {
    size_t last = (offset + length + kPageSize - 1) / kPageSize;
    return last < pages_ ? last : pages_;
  }
  bool test(size_t p) const { return !bits_.empty() && (bits_[p / 64] >> (p % 64) & 1); }

  size_t pages_;
  size_t count_ = 0;
  std::vector<uint64_t> bits_;
};

}  // namespace ummap
