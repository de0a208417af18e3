#include "server/prefaulter.h"

#include <algorithm>
#include <chrono>

#include "common/thread_name.h"
#include "server/segment_memory.h"

namespace ioc {
namespace server {

void Prefaulter::start(Plan plan) {
  plan_ = std::move(plan);
  running_ = true;
  thread_ = std::thread([this] { loop(); });
}

void Prefaulter::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Prefaulter::loop() {
  ioc::nameThisThread("ioc-prefault");
  lowerPrefaultPriority();
  auto start = std::chrono::steady_clock::now();
  const size_t step = std::max<size_t>(1, kPrefaultStep / plan_.slotSize);
  bool reported = false;
  while (!stop_) {
    size_t target = plan_.target(), done = populated_.load();
    if (done < target && (!plan_.mayWork || plan_.mayWork())) {
      size_t n = std::min(step, target - done);
      if (!plan_.fill(done, n)) break;
      populated_.store(done + n);
      continue;
    }
    if (done >= target && !reported) {
      reported = true;
      if (plan_.reached)
        plan_.reached(done, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      if (plan_.once) break;
    }
    std::unique_lock<std::mutex> lock(mu_);
    if (done < target) {  // not allowed to work right now: looked at again soon
      wake_.wait_for(lock, std::chrono::milliseconds(100), [&] { return stop_.load(); });
      continue;
    }
    // Woken when the target moves (or now and then: a wake-up may slip between the check and
    // the wait).
    wake_.wait_for(lock, std::chrono::milliseconds(200),
                   [&] { return stop_.load() || plan_.target() > populated_.load(); });
  }
  running_ = false;
}

}  // namespace server
}  // namespace ioc
