// umapTest* and umapBench*: the test hooks (native/uffd/test_gate.h) and bench baselines, in test
// builds only (IOC_FAILPOINTS_ENABLED; src/native.ts: testHooks()). A release build compiles
// none of this file, so that no test name is in its addon.
#ifdef IOC_FAILPOINTS_ENABLED
#include <fcntl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <system_error>
#include <vector>

#include "addon/bindings.h"
#include "addon/util/args.h"
#include "addon/util/errors.h"
#include "uffd/read_ahead.h"
#include "uffd/test_gate.h"
#include "uffd/uffd_context.h"

namespace ioc {
namespace addon {
namespace {

using namespace ummap;

unsigned timeoutOf(const Napi::CallbackInfo& info) { return static_cast<unsigned>(arg::size(info, 0, "timeoutMs")); }

// Pause the next asynchronous write-back after `pieces` pieces.
Napi::Value TestPauseWriteBack(const Napi::CallbackInfo& info) {
  testGateArm(arg::size(info, 0, "pieces"));
  return info.Env().Undefined();
}

// Blocks the JS thread until a write-back is paused (the write-back never needs it): true, or
// false after timeoutMs.
Napi::Value TestWaitPaused(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), testGateWaitPaused(timeoutOf(info)));
}

Napi::Value TestReleaseWriteBack(const Napi::CallbackInfo& info) {
  testGateRelease();
  return info.Env().Undefined();
}

// Pause the next read-ahead of segment at phase (0 before its read, 1 after it, 2 installed;
// failWith: a negative errno its read then reports), wait until it is paused, release it; wait
// until no read-ahead is queued or running. The waits block the JS thread (readers never need it).
Napi::Value TestPauseReadAhead(const Napi::CallbackInfo& info) {
  size_t segment = arg::size(info, 0, "segment");
  int32_t phase = arg::int32(info, 1, "phase");
  if (phase < 0 || phase > 2) arg::throwRange(info.Env(), "phase", "0, 1 or 2", std::to_string(phase));
  testReadAheadArm(segment, phase, arg::given(info, 2) ? arg::int32(info, 2, "failWith") : 0);
  return info.Env().Undefined();
}
Napi::Value TestWaitReadAheadPaused(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), testReadAheadWaitPaused(timeoutOf(info)));
}
Napi::Value TestReleaseReadAhead(const Napi::CallbackInfo& info) {
  testReadAheadRelease();
  return info.Env().Undefined();
}
Napi::Value TestReadAheadIdle(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), readAheadWaitIdle(timeoutOf(info)));
}

double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Bench baseline: seconds to install totalBytes with UFFDIO_COPY in chunkBytes pieces from a
// resident source of the same size, no faults involved (the best a fault handler could do).
Napi::Value BenchBulkCopy(const Napi::CallbackInfo& info) {
  size_t total = arg::size(info, 0, "totalBytes");
  size_t chunk = arg::size(info, 1, "chunkBytes");
  if (chunk == 0) arg::throwRange(info.Env(), "chunkBytes", "> 0", "0");
  return guarded(info.Env(), [&]() -> Napi::Value {
    UffdContext& ctx = uffdContext(DirtyTracking::WpFault);
    void* dst = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (dst == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap");
    madvise(dst, total, MADV_NOHUGEPAGE);
    // A source as large as the destination, like a store: not cache-hot.
    std::vector<uint8_t> src(total, 1);
    int ret = ctx.registerRange(dst, total, false);
    double t0 = now();
    for (size_t off = 0; ret == 0 && off < total; off += chunk) ret = ctx.copy(static_cast<uint8_t*>(dst) + off, src.data() + off, std::min(chunk, total - off), false);
    double t1 = now();
    ctx.unregisterRange(dst, total);
    munmap(dst, total);
    if (ret < 0) throw std::system_error(-ret, std::generic_category(), "UFFDIO_COPY");
    return Napi::Number::New(info.Env(), t1 - t0);
  });
}

// Bench baseline: the kernel's own shared mapping of a file (e.g. on /dev/shm), as an ArrayBuffer.
Napi::Value BenchMapFile(const Napi::CallbackInfo& info) {
  std::string path = arg::string(info, 0, "path");
  size_t size = arg::size(info, 1, "size");
  return guarded(info.Env(), [&]() -> Napi::Value {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + path);
    void* p = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    int err = errno;
    close(fd);
    if (p == MAP_FAILED) throw std::system_error(err, std::generic_category(), "mmap " + path);
    return Napi::ArrayBuffer::New(info.Env(), p, size, [](Napi::Env, void*) {});
  });
}

Napi::Value BenchUnmapFile(const Napi::CallbackInfo& info) {
  Napi::ArrayBuffer buffer = arg::arrayBuffer(info[0], "buffer");
  void* p = buffer.Data();
  size_t size = buffer.ByteLength();
  buffer.Detach();
  if (p) munmap(p, size);
  return info.Env().Undefined();
}

}  // namespace

void InitTestBinding(Napi::Env env, Napi::Object exports) {
  exports.Set("umapTestPauseWriteBack", Napi::Function::New(env, TestPauseWriteBack, "umapTestPauseWriteBack"));
  exports.Set("umapTestWaitPaused", Napi::Function::New(env, TestWaitPaused, "umapTestWaitPaused"));
  exports.Set("umapTestReleaseWriteBack", Napi::Function::New(env, TestReleaseWriteBack, "umapTestReleaseWriteBack"));
  exports.Set("umapTestPauseReadAhead", Napi::Function::New(env, TestPauseReadAhead, "umapTestPauseReadAhead"));
  exports.Set("umapTestWaitReadAheadPaused", Napi::Function::New(env, TestWaitReadAheadPaused, "umapTestWaitReadAheadPaused"));
  exports.Set("umapTestReleaseReadAhead", Napi::Function::New(env, TestReleaseReadAhead, "umapTestReleaseReadAhead"));
  exports.Set("umapTestReadAheadIdle", Napi::Function::New(env, TestReadAheadIdle, "umapTestReadAheadIdle"));
  exports.Set("umapBenchBulkCopy", Napi::Function::New(env, BenchBulkCopy, "umapBenchBulkCopy"));
  exports.Set("umapBenchMapFile", Napi::Function::New(env, BenchMapFile, "umapBenchMapFile"));
  exports.Set("umapBenchUnmapFile", Napi::Function::New(env, BenchUnmapFile, "umapBenchUnmapFile"));
}

}  // namespace addon
}  // namespace ioc
#endif
