#include "common/worker_pool.h"

#include <errno.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <list>
#include <system_error>
#include <mutex>
#include <thread>

#include "common/thread_name.h"

namespace ioc {

struct WorkerPool::State {
  explicit State(Options o) : options(std::move(o)) {}
  struct Entry {
    Job job;
    Completion done;
  };
  using ThreadList = std::list<std::thread>;

  const Options options;
  mutable std::mutex mu;
  std::condition_variable wake;
  std::deque<Entry> queue;
  ThreadList threads;  // those not retired; a retiring thread detaches itself
  unsigned idle = 0;   // threads waiting for a job (each takes one)
  bool stopping = false, abandoned = false;

  // Under mu. False when the system refuses a thread.
  bool startThread(bool permanent, const std::shared_ptr<State>& self) {
    auto it = threads.emplace(threads.end());
    try {
      // The thread reads its own entry only under mu, which the caller holds until it is set.
      *it = std::thread([self, it, permanent] { self->run(it, permanent); });
      return true;
    } catch (const std::system_error&) {
      threads.erase(it);
      return false;
    }
  }

  void run(ThreadList::iterator self, bool permanent) {
    nameThisThread(options.threadName);
    std::unique_lock<std::mutex> lock(mu);
    auto ready = [&] { return !queue.empty() || stopping; };
    for (;;) {
      idle++;
      if (options.idleTimeout.count() > 0 && !wake.wait_for(lock, options.idleTimeout, ready)) {
        if (options.onIdle) {
          lock.unlock();
          options.onIdle();
          lock.lock();
        }
        if (options.retireIdle && !permanent && !ready()) {
          idle--;
          self->detach();
          threads.erase(self);
          return;
        }
      }
      wake.wait(lock, ready);
      idle--;
      if (queue.empty()) return;  // stopping, nothing left: stop() joins this thread
      Entry e = std::move(queue.front());
      queue.pop_front();
      lock.unlock();
      runEntry(e);
      e = Entry{};  // the job's captures are released outside the lock
      lock.lock();
    }
  }

  static void runEntry(Entry& e) {
    std::exception_ptr thrown;
    try {
      e.job();
    } catch (...) {
      thrown = std::current_exception();
    }
    try {
      if (e.done) e.done(thrown);
    } catch (...) {  // a completion must not throw: the thread stays
    }
  }
};

WorkerPool::WorkerPool(Options options) : state_(std::make_shared<State>(std::move(options))) {
  std::lock_guard<std::mutex> lock(state_->mu);
  for (unsigned i = 0; i < state_->options.startThreads; i++) {
    if (!state_->startThread(true, state_)) throw std::system_error(EAGAIN, std::generic_category(), "cannot start a worker thread");
  }
}

WorkerPool::~WorkerPool() { stop(); }

bool WorkerPool::post(Job job, Completion done, unsigned threadsAllowed) {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.stopping) return false;
  s.queue.push_back({std::move(job), std::move(done)});
  unsigned limit = std::max(1u, std::min(threadsAllowed, s.options.maxThreads ? s.options.maxThreads : UINT_MAX));
  // Each idle thread takes one job: start one when the queue outnumbers them.
  if (s.queue.size() > s.idle && s.threads.size() < limit && !s.startThread(false, state_) && s.threads.empty()) {
    s.queue.pop_back();  // no thread at all to run it
    throw std::system_error(EAGAIN, std::generic_category(), "cannot start a worker thread");
  }
  s.wake.notify_one();
  return true;
}

void WorkerPool::stop() {
  State::ThreadList threads;
  bool abandoned;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stopping = true;
    threads.swap(state_->threads);
    abandoned = state_->abandoned;
  }
  state_->wake.notify_all();
  for (std::thread& t : threads) {
    if (abandoned) t.detach();
    else t.join();
  }
}

void WorkerPool::abandon() {
  std::deque<State::Entry> dropped;  // destroyed outside the lock
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->abandoned = true;
  dropped.swap(state_->queue);
}

size_t WorkerPool::queued() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->queue.size();
}

size_t WorkerPool::threadCount() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->threads.size();
}

}  // namespace ioc
