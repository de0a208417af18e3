#include "write_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <system_error>

#include "common/worker_pool.h"

namespace ummap {
namespace {

constexpr unsigned kMaxHelpers = 7;  // with the caller: the ioc client's 8 pooled connections

struct Batch {
  std::function<void(size_t)> body;
  size_t count = 0;
  std::atomic<size_t> next{0};
  std::mutex mutex;
  std::condition_variable allDone;
  size_t finished = 0;

  // Take items until none is left. A helper that starts after the last item was taken returns
  // at once: the caller waits for the items, not for the helpers.
  void work() {
    for (size_t i; (i = next.fetch_add(1)) < count;) {
      body(i);
      std::lock_guard<std::mutex> lock(mutex);
      if (++finished == count) allDone.notify_all();
    }
  }
};

// Never destroyed: its threads block in wait() until the process ends.
ioc::WorkerPool& helperPool() {
  static ioc::WorkerPool* pool = [] {
    ioc::WorkerPool::Options o;
    o.threadName = "ummap-helper";
    o.maxThreads = kMaxHelpers;
    return new ioc::WorkerPool(o);
  }();
  return *pool;
}

}  // namespace

void runInParallel(size_t count, unsigned parallelism, const std::function<void(size_t)>& body) {
  if (count == 0) return;
  auto batch = std::make_shared<Batch>();
  batch->body = body;
  batch->count = count;
  size_t helpers = std::min<size_t>({count, std::max(parallelism, 1u), kMaxHelpers + 1}) - 1;
  try {
    for (size_t h = 0; h < helpers; h++) helperPool().post([batch] { batch->work(); });
  } catch (const std::system_error&) {
    // No thread to be had: the caller takes the items left.
  }
  batch->work();
  std::unique_lock<std::mutex> lock(batch->mutex);
  batch->allDone.wait(lock, [&] { return batch->finished == count; });
}

}  // namespace ummap
