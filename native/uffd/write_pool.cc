#include "write_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>

#include "on_demand_threads.h"

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

class HelperPool {
 public:
  void post(std::shared_ptr<Batch> batch) {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(batch));
    threads_.jobQueued(kMaxHelpers, "ummap-helper", [this] { loop(); });
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      threads_.waitForJob(lock, [&] { return !queue_.empty(); });
      auto batch = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      batch->work();
      batch.reset();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::deque<std::shared_ptr<Batch>> queue_;
  OnDemandThreads threads_;
};

// Never destroyed: its threads block in wait() until the process ends.
HelperPool& helperPool() {
  static HelperPool* pool = new HelperPool();
  return *pool;
}

}  // namespace

void runInParallel(size_t count, unsigned parallelism, const std::function<void(size_t)>& body) {
  if (count == 0) return;
  auto batch = std::make_shared<Batch>();
  batch->body = body;
  batch->count = count;
  size_t helpers = std::min<size_t>({count, std::max(parallelism, 1u), kMaxHelpers + 1}) - 1;
  for (size_t h = 0; h < helpers; h++) helperPool().post(batch);
  batch->work();
  std::unique_lock<std::mutex> lock(batch->mutex);
  batch->allDone.wait(lock, [&] { return batch->finished == count; });
}

}  // namespace ummap
