#include "server/store_worker.h"

#include <errno.h>

namespace ioc {
namespace server {

namespace {
WorkerPool::Options storeThreads(size_t threads) {
  WorkerPool::Options o;
  o.threadName = "ioc-store";
  o.startThreads = o.maxThreads = (unsigned)threads;
  return o;
}
}  // namespace

StoreWorker::StoreWorker(size_t threads, std::function<void()> wake) : wake_(std::move(wake)), pool_(storeThreads(threads)) {}

StoreWorker::~StoreWorker() { pool_.stop(); }

void StoreWorker::submit(Work work, Done done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    outstanding_++;
  }
  pool_.post([this, work = std::move(work), done = std::move(done)]() mutable {
    int ret;
    try {
      ret = work();
    } catch (...) {  // a store call that throws fails its job instead of the thread
      ret = -EIO;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      finished_.push_back(Finished{std::move(done), ret});
    }
    doneCv_.notify_all();
    if (wake_) wake_();
  });
}

size_t StoreWorker::runCompletions() {
  std::deque<Finished> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done.swap(finished_);
  }
  for (Finished &job : done) {
    if (job.done) job.done(job.ret);
    std::lock_guard<std::mutex> lock(mu_);
    outstanding_--;
  }
  return done.size();
}

size_t StoreWorker::outstanding() const {
  std::lock_guard<std::mutex> lock(mu_);
  return outstanding_;
}

bool StoreWorker::waitIdle(std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    runCompletions();  // may submit more jobs (the next one of an object)
    std::unique_lock<std::mutex> lock(mu_);
    if (outstanding_ == 0) return true;
    if (finished_.empty() && !doneCv_.wait_until(lock, deadline, [&] { return !finished_.empty(); })) return false;
  }
}

void StoreWorker::abandon() { pool_.abandon(); }

}  // namespace server
}  // namespace ioc
