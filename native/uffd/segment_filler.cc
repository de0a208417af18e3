#include "segment_filler.h"

#include <string.h>
#include <sys/mman.h>

#include <vector>

#include "storage_driver.h"
#include "uffd_context.h"

namespace ummap {
namespace {

// A read-only anonymous range reads as the shared zero page: a free source of zeros.
constexpr size_t kZeroSourceSize = 64 << 20;
const uint8_t* zeroSource() {
  static const uint8_t* zeros = [] {
    void* p = mmap(nullptr, kZeroSourceSize, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? nullptr : static_cast<const uint8_t*>(p);
  }();
  return zeros;
}

int copyZeros(const UffdContext& ctx, uint8_t* dst, size_t len, bool wp) {
  const uint8_t* zeros = zeroSource();
  for (size_t done = 0; done < len;) {
    size_t n = std::min(len - done, kZeroSourceSize);
    int ret = ctx.copy(dst + done, zeros, n, wp);
    if (ret < 0) return ret;
    done += n;
  }
  return 0;
}

}  // namespace

FillResult fillRange(StorageDriver& driver, const UffdContext& ctx, const FillRequest& r) {
  FillResult result;
  if (r.zeros) {
    result.error = copyZeros(ctx, r.destination, r.mappedLength, r.writeProtect);
    return result;
  }
  // Zero-copy when the store is memory of this process (mem driver).
  if (r.storageLength == r.mappedLength) {
    if (const void* src = driver.directSource(r.storageOffset, r.storageLength)) {
      result.bytesRead = r.storageLength;
      result.error = ctx.copy(r.destination, src, r.mappedLength, r.writeProtect);
      return result;
    }
  }
  // Only the handler thread fills: one bounce buffer, grown to the largest batch.
  static thread_local std::vector<uint8_t> bounce;
  if (bounce.size() < r.mappedLength) bounce.resize(r.mappedLength);
  ssize_t got = r.storageLength ? driver.read(bounce.data(), r.storageLength, r.storageOffset) : 0;
  if (got < 0) {
    // Never install zeros in place of data that could not be read: the mapping retries the
    // faulting segment until its timeout, then raises SIGBUS (Mapping::loadSegments).
    result.error = static_cast<int>(got);
    result.readFailed = true;
    return result;
  }
  result.bytesRead = got;
  memset(bounce.data() + got, 0, r.mappedLength - got);
  int ret = ctx.copy(r.destination, bounce.data(), r.mappedLength, r.writeProtect);
  if (ret < 0) result.error = ret;
  return result;
}

}  // namespace ummap
