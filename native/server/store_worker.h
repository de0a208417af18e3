// Runs backing-store I/O (loads, spills, flushes) on its own threads, so that a slow or hung
// store never stalls the request loop: the loop submits a job, goes on serving, and runs the
// job's completion when the loop next calls runCompletions() (wake() tells it to).
// The threads are a WorkerPool's (common/worker_pool.h), all started up front. The pool runs jobs
// in submission order with no ordering of its own beyond that: the cache keeps one job at a time
// per object (segment_cache.h), which is all the ordering store jobs need.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>

#include "common/worker_pool.h"

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
  struct Finished {
    Done done;
    int ret = 0;
  };

  std::function<void()> wake_;
  mutable std::mutex mu_;
  std::condition_variable doneCv_;
  std::deque<Finished> finished_;
  size_t outstanding_ = 0;
  // Last: destroyed (its threads joined) first, while what the jobs use is still there.
  WorkerPool pool_;
};

}  // namespace server
}  // namespace ioc
