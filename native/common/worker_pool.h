// A pool of named worker threads running queued jobs in the order they were posted. The one
// thread pool of the native code: ummap's read-ahead readers (native/uffd/read_ahead.cc) and
// write-back helpers (native/uffd/write_pool.cc), the addon's asynchronous calls
// (native/addon/util/async_work.h) and the server's store threads (native/server/store_worker.h).
//
// Threads are started up front (startThreads) or on demand: a post that finds every thread busy
// starts one, up to the pool's limit and the post's own. A pool without a limit never lets a
// queued job wait for a running one, which jobs that may wait for each other need (a mapping's
// write-backs take turns: a later call may wait for an earlier one).
#pragma once

#include <chrono>
#include <climits>
#include <exception>
#include <functional>
#include <memory>

namespace ioc {

class WorkerPool {
 public:
  struct Options {
    const char* threadName = "ioc-worker";  // at most 15 characters (thread_name.h)
    unsigned startThreads = 0;              // started now, kept until stop()
    unsigned maxThreads = 0;                // 0: no limit
    // A thread idle for idleTimeout (0: never) calls onIdle (if set); with retireIdle, a thread
    // started on demand then ends.
    std::chrono::milliseconds idleTimeout{0};
    std::function<void()> onIdle;
    bool retireIdle = false;
  };
  using Job = std::function<void()>;
  // Runs on the worker thread right after its job, with what the job threw (null if nothing).
  using Completion = std::function<void(std::exception_ptr)>;

  explicit WorkerPool(Options options);
  // stop(): joins the threads (unless abandon() was called).
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queue a job. With no idle thread for it, starts one if fewer than min(maxThreads,
  // threadsAllowed) run. A job without a completion must not throw (what it throws is dropped),
  // nor may a completion. False (nothing queued) once the pool is stopping; throws
  // std::system_error (EAGAIN) when no thread can run it.
  bool post(Job job, Completion done = nullptr, unsigned threadsAllowed = UINT_MAX);
  // No new jobs; the queued ones run, then the threads are joined. Not from a pool thread.
  void stop();
  // Drop the queued jobs and leave the threads behind (stuck in a call, at shutdown): stop()
  // and the destructor no longer wait for them.
  void abandon();
  // Jobs queued and not started yet; threads running (busy or idle).
  size_t queued() const;
  size_t threadCount() const;

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with the threads: an abandoned one may outlive the pool
};

}  // namespace ioc
