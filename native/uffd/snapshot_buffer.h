// Memory that holds a copy of a mapping's dirty pages as of an asynchronous sync's call, so that
// the application may write on while the copy is written back. Huge pages where the kernel
// allows them and populated at allocation: fresh 4 KiB pages fault at ~0.2-0.5 GB/s here
// (DESIGN.md 5b), which would make the copy, done on the caller's thread, far slower than memcpy.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <system_error>

namespace ummap {

class SnapshotBuffer {
 public:
  explicit SnapshotBuffer(size_t size) : size_(roundUp(size)) {
    void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "snapshot buffer mmap");
    data_ = static_cast<uint8_t*>(p);
    madvise(data_, size_, MADV_HUGEPAGE);
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
    madvise(data_, size_, MADV_POPULATE_WRITE);  // best effort: memcpy faults what is left
  }
  ~SnapshotBuffer() { munmap(data_, size_); }
  SnapshotBuffer(const SnapshotBuffer&) = delete;
  SnapshotBuffer& operator=(const SnapshotBuffer&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  static size_t roundUp(size_t v) {
    constexpr size_t kHuge = size_t{2} << 20;
    return (v + kHuge - 1) / kHuge * kHuge;
  }
  uint8_t* data_ = nullptr;
  size_t size_;
};

}  // namespace ummap
