#include "read_ahead.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <system_error>

#include "common/worker_pool.h"
#include "mapping.h"

namespace ummap {
namespace {

// With the handler's own read and a write-back's two pieces, within the ioc client's 8 pooled
// connections: a fault never waits for a connection held by read-ahead.
constexpr unsigned kMaxReaders = 4;

thread_local std::vector<uint8_t> buffer;  // a reader's: grown to the largest segment it read

struct Job {
  std::shared_ptr<Mapping> mapping;
  size_t segment;
};

// The queued jobs stay here, where takeBack and cancel find them; the pool runs one per
// submission, taking the oldest still queued (none: it was taken back).
class ReaderPool {
 public:
  void submit(const std::shared_ptr<Mapping>& mapping, size_t segment, unsigned readers) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back({mapping, segment});
    }
    try {
      threads_.post([this] { runOne(); }, nullptr, std::min(std::max(readers, 1u), kMaxReaders));
    } catch (const std::system_error&) {
      // No reader thread to be had: the job stays queued, a fault on its segment takes it back.
    }
  }

  bool takeBack(const Mapping* mapping, size_t segment) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = std::find_if(queue_.begin(), queue_.end(), [&](const Job& j) { return j.mapping.get() == mapping && j.segment == segment; });
    if (it == queue_.end()) return false;
    queue_.erase(it);
    notifyIfIdle();
    return true;
  }

  std::vector<size_t> cancel(const Mapping* mapping) {
    std::vector<size_t> dropped;
    std::deque<Job> kept;
    std::vector<std::shared_ptr<Mapping>> release;  // destroyed after the lock is dropped
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (Job& j : queue_) {
        if (j.mapping.get() == mapping) {
          dropped.push_back(j.segment);
          release.push_back(std::move(j.mapping));
        } else {
          kept.push_back(std::move(j));
        }
      }
      queue_.swap(kept);
      notifyIfIdle();
    }
    return dropped;
  }

  bool waitIdle(unsigned timeoutMs) {
    std::unique_lock<std::mutex> lock(mutex_);
    return idleChanged_.wait_for(lock, std::chrono::milliseconds(timeoutMs), [&] { return queue_.empty() && running_ == 0; });
  }

 private:
  void runOne() {
    std::unique_lock<std::mutex> lock(mutex_);
    if (queue_.empty()) return;
    Job job = std::move(queue_.front());
    queue_.pop_front();
    running_++;
    lock.unlock();
    job.mapping->readAheadRun(job.segment);  // takes the mapping's lock only around bookkeeping
    job.mapping.reset();
    lock.lock();
    running_--;
    notifyIfIdle();
  }

  void notifyIfIdle() {
    if (queue_.empty() && running_ == 0) idleChanged_.notify_all();
  }

  static ioc::WorkerPool::Options poolOptions() {
    ioc::WorkerPool::Options o;
    o.threadName = "ummap-reader";
    o.maxThreads = kMaxReaders;
    // A scan tops the queue up at each fault: a reader keeps its buffer across short gaps (a
    // fresh one costs page faults) and gives it back after a second without work.
    o.idleTimeout = std::chrono::seconds(1);
    o.onIdle = [] { std::vector<uint8_t>().swap(buffer); };
    return o;
  }

  std::mutex mutex_;  // never held while taking a mapping's lock (the handler takes them in the other order)
  std::condition_variable idleChanged_;
  std::deque<Job> queue_;
  unsigned running_ = 0;
  ioc::WorkerPool threads_{poolOptions()};
};

// Never destroyed: its threads block in wait() until the process ends.
ReaderPool& pool() {
  static ReaderPool* p = new ReaderPool();
  return *p;
}

}  // namespace

uint8_t* readAheadBuffer(size_t size) {
  if (buffer.size() < size) buffer.resize(size);
  return buffer.data();
}

void readAheadSubmit(const std::shared_ptr<Mapping>& mapping, size_t segment, unsigned readers) {
  pool().submit(mapping, segment, readers);
}
bool readAheadTakeBack(const Mapping* mapping, size_t segment) { return pool().takeBack(mapping, segment); }
std::vector<size_t> readAheadCancel(const Mapping* mapping) { return pool().cancel(mapping); }
bool readAheadWaitIdle(unsigned timeoutMs) { return pool().waitIdle(timeoutMs); }

}  // namespace ummap
