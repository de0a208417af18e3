// Runs backing-store I/O (loads, spills, flushes) on its own threads, so that a slow or hung
// store never stalls the request loop: the loop submits a job, goes on serving, and runs the
// job's completion when the loop next calls runCompletions() (wake() tells it to).
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ioc {
namespace server {

class StoreWorker {
 public:
  // work runs on a worker thread and returns 0 or a negative errno; done(ret) runs on the
  // thread that calls runCompletions().
  using Work = std::function<int()>;
  using Done = std::function<void(int)>;

  StoreWorker(size_t threads, std::function<void()> wake);
  // Joins the threads, unless abandon() was called (they may be stuck in the store).
  ~StoreWorker();

  void submit(Work work, Done done);
  // Runs the completions of finished jobs; returns how many ran.
  size_t runCompletions();
  // Jobs submitted and not yet completed (their completion not run yet).
  size_t outstanding() const;
  // Wait until every job completed (running completions here), or until the deadline.
  bool waitIdle(std::chrono::steady_clock::time_point deadline);
  // Leave threads stuck in store calls behind (shutdown after --shutdown-timeout).
  void abandon();

 private:
  struct Job {
    Work work;
    Done done;
    int ret = 0;
  };
  void loop();

  std::function<void()> wake_;
  mutable std::mutex mu_;
  std::condition_variable workCv_, doneCv_;
  std::deque<Job> queue_, finished_;
  size_t outstanding_ = 0;
  bool stopping_ = false, abandoned_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace server
}  // namespace ioc
