// The background thread behind --prefault, for both slot memories (anonymous and the pmem pool):
// a first touch of memory costs far more than the network moving data into it, so slots are
// faulted in ahead of use, at low priority (lowerPrefaultPriority), a step (kPrefaultStep) at a
// time in index order, while target() is above what is populated and mayWork() allows; then it
// waits until woken (the target moved) or stopped. Racing the request loop is harmless:
// populating a page already written leaves it as it is.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace ioc {
namespace server {

class Prefaulter {
 public:
  struct Plan {
    size_t slotSize = 0;
    std::function<size_t()> target;            // slots that should be populated now
    std::function<bool()> mayWork;             // nullptr: always
    std::function<bool(size_t, size_t)> fill;  // fault slots [first, first+n) in; false: stop
    std::function<void(size_t, double)> reached;  // the target first reached: slots, seconds
    bool once = false;                         // stop once the target is reached
  };
  ~Prefaulter() { stop(); }
  void start(Plan plan);
  void wake() { wake_.notify_one(); }
  void stop();
  size_t populated() const { return populated_.load(); }
  bool running() const { return running_.load(); }

 private:
  void loop();
  Plan plan_;
  std::atomic<size_t> populated_{0};
  std::atomic<bool> stop_{false}, running_{false};
  std::mutex mu_;
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace server
}  // namespace ioc
