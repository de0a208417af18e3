// File helpers Node's fs lacks: fileAllocate(fd, size) reserves a file's blocks before it is
// written (a copy into preallocated blocks skips the file system's allocation on every write).
#include <errno.h>
#include <fcntl.h>
#include <napi.h>

#include <chrono>
#include <system_error>

#include "addon/bindings.h"
#include "addon/util/args.h"
#include "addon/util/async_work.h"
#include "addon/util/errors.h"

namespace ioc {
namespace addon {
namespace {

// One file call at a time is plenty (a transfer allocates its destination once); the thread
// ends when idle.
WorkerPool& filePool() {
  static WorkerPool* pool = [] {
    WorkerPool::Options o;
    o.threadName = "ioc-file";
    o.maxThreads = 1;
    o.idleTimeout = std::chrono::seconds(10);
    o.retireIdle = true;
    return new WorkerPool(o);
  }();
  return *pool;
}

// fileAllocate(fd, size) -> Promise<void>; rejects with the errno (EOPNOTSUPP: the file system
// cannot: write as usual; ENOSPC: no room).
Napi::Value FileAllocate(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int32_t fd = arg::int32(info, 0, "fd");
  if (fd < 0) arg::throwRange(env, "fd", ">= 0", std::to_string(fd));
  off_t size = (off_t)arg::size(info, 1, "size");
  AsyncCall call;
  call.work = [fd, size]() -> JsValue {
    int err = size > 0 ? posix_fallocate(fd, 0, size) : 0;
    if (err) throw std::system_error(err, std::generic_category(), "fallocate");
    return nullptr;
  };
  return guarded(env, [&]() -> Napi::Value { return runAsync(env, filePool(), std::move(call)); });
}

}  // namespace

void InitFileBinding(Napi::Env env, Napi::Object exports) {
  exports.Set("fileAllocate", Napi::Function::New(env, FileAllocate, "fileAllocate"));
}

}  // namespace addon
}  // namespace ioc
