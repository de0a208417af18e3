#include "uffd_context.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <memory>
#include <mutex>
#include <system_error>

#include "fault_reader.h"
#include "mapping.h"
#include "uffd_abi.h"

namespace ummap {
namespace {

struct Opened {
  int fd = -1;
  bool kernelFaults = false;
  std::string how;
};

// Full userfaultfd (kernel-side faults included) needs privileges when
// vm.unprivileged_userfaultfd=0: root passes the syscall; /dev/userfaultfd works for whoever may
// open it. User-mode-only is the last resort (then read(2) into a fresh mapping gets EFAULT).
Opened openUffd() {
  Opened o;
  o.fd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  if (o.fd >= 0) return {o.fd, true, "syscall"};
  int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
  if (dev >= 0) {
    o.fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
    close(dev);
    if (o.fd >= 0) return {o.fd, true, "/dev/userfaultfd"};
  }
  o.fd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY));
  if (o.fd >= 0) return {o.fd, false, "syscall (user mode only)"};
  return {-1, false, ""};
}

// UFFDIO_API may be called once per descriptor; returns the negotiated features or -errno.
int64_t handshake(int fd, uint64_t features) {
  struct uffdio_api api = {};
  api.api = UFFD_API;
  api.features = features;
  if (ioctl(fd, UFFDIO_API, &api) < 0) return -errno;
  return static_cast<int64_t>(api.features);
}

bool pagemapScanWorks() {
  struct pm_scan_arg arg = {};
  arg.size = sizeof(arg);
  // An empty range: ENOTTY on kernels without PAGEMAP_SCAN, 0 when present.
  int fd = pagemapFd();
  return fd >= 0 && ioctl(fd, PAGEMAP_SCAN, &arg) >= 0;
}

struct Contexts {
  UffdSupport support;
  std::unique_ptr<UffdContext> async, fault;
};

void writeBackAtExit() {
  for (auto& m : allMappings()) {
    try {
      if (!m->closed()) m->flush(0, m->size(), true, false);
    } catch (...) {
    }
  }
}

std::once_flag initOnce;
Contexts* contexts = nullptr;

void initContexts() {
  auto* c = new Contexts();  // lives until exit: the handler thread uses it
  contexts = c;
  Opened probe = openUffd();
  if (probe.fd < 0) {
    c->support.error = std::string("userfaultfd unavailable: ") + strerror(errno);
    return;
  }
  int64_t offered = handshake(probe.fd, 0);
  close(probe.fd);
  if (offered < 0) {
    c->support.error = std::string("UFFDIO_API failed: ") + strerror(static_cast<int>(-offered));
    return;
  }
  c->support.available = true;
  c->support.kernelFaults = probe.kernelFaults;
  c->support.openedWith = probe.how;
  uint64_t asyncWanted = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED;
  c->support.wpAsync = (offered & asyncWanted) == asyncWanted && pagemapScanWorks();

  auto makeContext = [&](uint64_t features, DirtyTracking tracking) -> std::unique_ptr<UffdContext> {
    Opened o = openUffd();
    if (o.fd < 0) return nullptr;
    int64_t got = handshake(o.fd, features);
    if (got < 0) {
      close(o.fd);
      return nullptr;
    }
    return std::make_unique<UffdContext>(o.fd, static_cast<uint64_t>(got), tracking);
  };
  // The faulting thread's id: a segment that cannot be read ends in SIGBUS for that thread.
  uint64_t threadId = offered & UFFD_FEATURE_THREAD_ID;
  c->fault = makeContext(threadId, DirtyTracking::WpFault);
  // EVENT_REMAP keeps a range registered (and its pages' write protection) when mremap moves
  // it: an asynchronous sync moves dirty pages out and back instead of copying them
  // (Mapping::moveDirtyRuns).
  uint64_t remap = offered & UFFD_FEATURE_EVENT_REMAP;
  if (c->support.wpAsync) c->async = makeContext(asyncWanted | threadId | remap, DirtyTracking::WpAsync);
  c->support.snapshotMoves = c->async && c->async->hasFeature(UFFD_FEATURE_EVENT_REMAP);
  if (!c->fault) {
    c->support.available = false;
    c->support.error = "cannot open a userfaultfd context";
    return;
  }
  startFaultReader({c->fault.get(), c->async.get()});
  // process.exit() skips environment teardown: write back what is still mapped, so dirty data
  // is not lost. Registered after the reader starts, so it runs before the reader stops.
  std::atexit(writeBackAtExit);
}

Contexts& ensure() {
  std::call_once(initOnce, initContexts);
  return *contexts;
}

}  // namespace

UffdSupport uffdSupport() { return ensure().support; }

DirtyTracking defaultTracking() {
  // Read once: the process's kernel interface does not change under it.
  static const bool forced = [] {
    const char* env = getenv("IOC_UFFD_NO_WP_ASYNC");
    return env && *env && strcmp(env, "0") != 0;
  }();
  return !forced && ensure().async ? DirtyTracking::WpAsync : DirtyTracking::WpFault;
}

UffdContext& uffdContext(DirtyTracking wanted) {
  Contexts& c = ensure();
  if (!c.support.available) throw std::system_error(ENOSYS, std::generic_category(), c.support.error);
  if (wanted == DirtyTracking::WpAsync && c.async) return *c.async;
  return *c.fault;
}

int pagemapFd() {
  static int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  return fd;
}

int UffdContext::registerRange(void* addr, size_t len, bool writeProtect) const {
  struct uffdio_register reg = {};
  reg.range.start = reinterpret_cast<uint64_t>(addr);
  reg.range.len = len;
  reg.mode = UFFDIO_REGISTER_MODE_MISSING | (writeProtect ? UFFDIO_REGISTER_MODE_WP : 0);
  return ioctl(fd_, UFFDIO_REGISTER, &reg) < 0 ? -errno : 0;
}

int UffdContext::unregisterRange(void* addr, size_t len) const {
  struct uffdio_range range = {reinterpret_cast<uint64_t>(addr), len};
  return ioctl(fd_, UFFDIO_UNREGISTER, &range) < 0 ? -errno : 0;
}

int UffdContext::copy(void* dst, const void* src, size_t len, bool wp) const {
  auto* d = static_cast<uint8_t*>(dst);
  auto* s = static_cast<const uint8_t*>(src);
  size_t done = 0;
  while (done < len) {
    struct uffdio_copy c = {};
    c.dst = reinterpret_cast<uint64_t>(d + done);
    c.src = reinterpret_cast<uint64_t>(s + done);
    c.len = len - done;
    c.mode = wp ? UFFDIO_COPY_MODE_WP : 0;
    if (ioctl(fd_, UFFDIO_COPY, &c) == 0) return 0;
    int err = errno;
    if (c.copy > 0) done += c.copy;  // partial copy: continue after what went in
    if (err == EAGAIN && c.copy > 0) continue;
    if (err == EAGAIN) continue;  // the mm changed under us (e.g. a concurrent madvise): retry
    if (err == EEXIST) return copyPageByPage(d + done, s + done, len - done, wp);
    return -err;
  }
  return 0;
}

// Some page of the range is already present (a racing fill, or a page the kernel installed):
// install the others one by one and skip the existing ones.
int UffdContext::copyPageByPage(uint8_t* dst, const uint8_t* src, size_t len, bool wp) const {
  for (size_t off = 0; off < len; off += kPageSize) {
    struct uffdio_copy c = {};
    c.dst = reinterpret_cast<uint64_t>(dst + off);
    c.src = reinterpret_cast<uint64_t>(src + off);
    c.len = kPageSize;
    c.mode = wp ? UFFDIO_COPY_MODE_WP : 0;
    while (ioctl(fd_, UFFDIO_COPY, &c) < 0) {
      if (errno == EEXIST) break;
      if (errno != EAGAIN) return -errno;
    }
  }
  return wake(dst, len);
}

int UffdContext::writeProtect(void* addr, size_t len, bool protect) const {
  struct uffdio_writeprotect wp = {};
  wp.range.start = reinterpret_cast<uint64_t>(addr);
  wp.range.len = len;
  wp.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0;
  while (ioctl(fd_, UFFDIO_WRITEPROTECT, &wp) < 0) {
    if (errno != EAGAIN) return -errno;
  }
  return 0;
}

int UffdContext::wake(void* addr, size_t len) const {
  struct uffdio_range range = {reinterpret_cast<uint64_t>(addr), len};
  return ioctl(fd_, UFFDIO_WAKE, &range) < 0 ? -errno : 0;
}

}  // namespace ummap
