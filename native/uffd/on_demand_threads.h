// The threads of a worker pool that lives as long as the process: started on demand, up to a
// limit, and detached (never joined). A queued job wakes an idle thread, or starts one when
// none is idle. Every call is made under the pool's own mutex, which guards the counts.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/thread_name.h"

namespace ummap {

class OnDemandThreads {
 public:
  // After a job was queued: wake an idle thread, or start one running `loop` (named `name`)
  // when none is idle and fewer than `max` run.
  template <class Loop>
  void jobQueued(unsigned max, const char* name, Loop loop) {
    if (idle_ == 0 && started_ < max) {
      started_++;
      std::thread([name, loop] {
        ioc::nameThisThread(name);
        loop();
      }).detach();
    } else {
      wake_.notify_one();
    }
  }

  // In a thread's loop: wait, counted idle, until ready(); false when `timeout` passed first.
  template <class Ready>
  bool waitForJob(std::unique_lock<std::mutex>& lock, Ready ready,
                  std::chrono::milliseconds timeout = std::chrono::milliseconds::max()) {
    idle_++;
    bool got = timeout == std::chrono::milliseconds::max() ? (wake_.wait(lock, ready), true)
                                                          : wake_.wait_for(lock, timeout, ready);
    idle_--;
    return got;
  }

 private:
  std::condition_variable wake_;
  unsigned started_ = 0, idle_ = 0;
};

}  // namespace ummap
