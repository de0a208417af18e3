#include "server/store_worker.h"

#include "common/thread_name.h"

namespace ioc {
namespace server {

StoreWorker::StoreWorker(size_t threads, std::function<void()> wake) : wake_(std::move(wake)) {
  for (size_t i = 0; i < threads; i++) threads_.emplace_back([this] {
    ioc::nameThisThread("ioc-store");
    loop();
  });
}

StoreWorker::~StoreWorker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  workCv_.notify_all();
  for (std::thread &t : threads_) {
    if (abandoned_) t.detach();
    else t.join();
  }
}

void StoreWorker::submit(Work work, Done done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(Job{std::move(work), std::move(done)});
    outstanding_++;
  }
  workCv_.notify_one();
}

void StoreWorker::loop() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      workCv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job.ret = job.work();
    {
      std::lock_guard<std::mutex> lock(mu_);
      finished_.push_back(std::move(job));
    }
    doneCv_.notify_all();
    if (wake_) wake_();
  }
}

size_t StoreWorker::runCompletions() {
  std::deque<Job> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done.swap(finished_);
  }
  for (Job &job : done) {
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

void StoreWorker::abandon() {
  std::lock_guard<std::mutex> lock(mu_);
  abandoned_ = true;
  queue_.clear();
}

}  // namespace server
}  // namespace ioc
