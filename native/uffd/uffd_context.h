// One userfaultfd file descriptor and the ioctls the runtime uses on it. The process has at
// most two: one with UFFD_FEATURE_WP_ASYNC (writes to protected pages are resolved by the
// kernel, dirty pages found later with PAGEMAP_SCAN) and one without (each first write after
// a sync is a write-protect fault served by the handler thread). A mapping picks one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ummap {

enum class DirtyTracking { WpAsync, WpFault };

class UffdContext {
 public:
  UffdContext(int fd, uint64_t features, DirtyTracking tracking) : fd_(fd), features_(features), tracking_(tracking) {}
  int fd() const { return fd_; }
  DirtyTracking tracking() const { return tracking_; }
  bool hasFeature(uint64_t f) const { return (features_ & f) == f; }

  // Register [addr, addr+len) for MISSING (and WP when writeProtect) faults. 0 or -errno.
  int registerRange(void* addr, size_t len, bool writeProtect) const;
  int unregisterRange(void* addr, size_t len) const;
  // Install len bytes of src at dst (page aligned), write-protected when wp. Pages that are
  // already present (a racing fill) are skipped. Wakes the threads waiting on the range.
  // Returns 0 or -errno.
  int copy(void* dst, const void* src, size_t len, bool wp) const;
  // Set or clear write protection on a range; clearing also wakes blocked writers.
  int writeProtect(void* addr, size_t len, bool protect) const;
  int wake(void* addr, size_t len) const;

 private:
  int copyPageByPage(uint8_t* dst, const uint8_t* src, size_t len, bool wp) const;
  int fd_;
  uint64_t features_;
  DirtyTracking tracking_;
};

struct UffdSupport {
  bool available = false;
  bool wpAsync = false;          // the kernel offers UFFD_FEATURE_WP_ASYNC + PAGEMAP_SCAN
  bool kernelFaults = false;     // not UFFD_USER_MODE_ONLY: read(2) into a mapping works
  bool snapshotMoves = false;    // the wp-async context has UFFD_FEATURE_EVENT_REMAP
  std::string openedWith;        // "syscall", "/dev/userfaultfd" or "syscall (user mode only)"
  std::string error;             // why not available
};

// Process-wide contexts, created on first use; throws std::system_error when userfaultfd is
// unusable. WpAsync falls back to WpFault when the kernel lacks it or IOC_UFFD_NO_WP_ASYNC=1.
UffdContext& uffdContext(DirtyTracking wanted);
UffdSupport uffdSupport();
// The tracking mode used when a mapping does not ask for one.
DirtyTracking defaultTracking();
// Descriptor of /proc/self/pagemap for PAGEMAP_SCAN (opened once).
int pagemapFd();

constexpr size_t kPageSize = 4096;

}  // namespace ummap
