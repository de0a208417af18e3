// Memory that holds a copy of a mapping's dirty pages as of an asynchronous sync's call, so that
// the application may write on while the copy is written back. Faulting fresh pages in is far
// slower than copying into faulted ones: the mapping keeps its last copy for the next sync, and
// the copy into a fresh one is spread over threads (Mapping::copyDirty). MADV_DONTFORK keeps a
// spawn from making it copy-on-write. No MADV_HUGEPAGE: with defrag=madvise each huge-page
// fault may compact memory, which costs more than it saves.
#pragma once

#include <string.h>
#include <sys/mman.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <system_error>

namespace ummap {

class SnapshotBuffer {
 public:
  explicit SnapshotBuffer(size_t size) : size_(roundUp(size)) {
    void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "snapshot buffer mmap");
    data_ = static_cast<uint8_t*>(p);
    // A fork (libuv's spawn) would make the kept buffer copy-on-write: the next snapshot into it
    // took a fault per page, as slow as fresh memory (1 GiB copy 45 ms -> 160-350 ms).
    madvise(data_, size_, MADV_DONTFORK);
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

// Copy into a snapshot with non-temporal stores: the copy is not read again soon (the write-back
// sends it), skipping the cache's read-for-ownership of the destination makes the copy faster,
// and the application's JS thread waits for it.
inline void streamCopy(uint8_t* to, const uint8_t* from, size_t length) {
#if defined(__SSE2__)
  if (((uintptr_t)to | (uintptr_t)from | length) % 64 == 0) {
    for (size_t i = 0; i < length; i += 64) {
      __m128i a = _mm_load_si128(reinterpret_cast<const __m128i*>(from + i));
      __m128i b = _mm_load_si128(reinterpret_cast<const __m128i*>(from + i + 16));
      __m128i c = _mm_load_si128(reinterpret_cast<const __m128i*>(from + i + 32));
      __m128i d = _mm_load_si128(reinterpret_cast<const __m128i*>(from + i + 48));
      _mm_stream_si128(reinterpret_cast<__m128i*>(to + i), a);
      _mm_stream_si128(reinterpret_cast<__m128i*>(to + i + 16), b);
      _mm_stream_si128(reinterpret_cast<__m128i*>(to + i + 32), c);
      _mm_stream_si128(reinterpret_cast<__m128i*>(to + i + 48), d);
    }
    _mm_sfence();  // the streamed bytes are visible before the write-back threads read them
    return;
  }
#endif
  memcpy(to, from, length);
}

// Process-wide, the largest copy buffer of an unmapped mapping (at most 2 GiB) is kept for the
// next mapping's first snapshot: an application that maps its state again (a restart, a new
// phase) does not pay the fresh buffer's page faults at its first checkpoint.
inline std::mutex& spareSnapshotMutex() {
  static std::mutex m;
  return m;
}
inline std::unique_ptr<SnapshotBuffer>& spareSnapshot() {
  static std::unique_ptr<SnapshotBuffer> kept;
  return kept;
}
inline void keepSpareSnapshot(std::unique_ptr<SnapshotBuffer> buf) {
  if (!buf || buf->size() > (size_t{2} << 30)) return;
  std::lock_guard<std::mutex> lock(spareSnapshotMutex());
  if (!spareSnapshot() || spareSnapshot()->size() < buf->size()) spareSnapshot() = std::move(buf);
}
inline std::unique_ptr<SnapshotBuffer> takeSpareSnapshot(size_t atLeast) {
  std::lock_guard<std::mutex> lock(spareSnapshotMutex());
  if (spareSnapshot() && spareSnapshot()->size() >= atLeast) return std::move(spareSnapshot());
  return nullptr;
}

}  // namespace ummap
