// Unit test of the worker pool (native/common/worker_pool.h): order, thread limits, jobs that
// wait for later ones, completions and what they are given, thread names, stop, abandon, the
// idle hook and retirement. Jobs are held by gates, never by sleeps; a wait that should end is
// bounded (a hang reports a failure instead). Prints one line per failure and "N passed, M
// failed" at the end; exit status 1 on failure.
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/worker_pool.h"
#include "tools/tool_check.h"

using ioc::WorkerPool;


namespace {

constexpr auto kLongWait = std::chrono::seconds(20);  // what should happen has, long before

// A counter that tests wait on: jobs bump it, the test waits for a value.
class Counter {
 public:
  void add(int n = 1) {
    std::lock_guard<std::mutex> lock(mu_);
    value_ += n;
    max_ = std::max(max_, value_);
    cv_.notify_all();
  }
  bool waitFor(int at_least) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kLongWait, [&] { return value_ >= at_least; });
  }
  int value() {
    std::lock_guard<std::mutex> lock(mu_);
    return value_;
  }
  int max() {
    std::lock_guard<std::mutex> lock(mu_);
    return max_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int value_ = 0, max_ = 0;
};

// Jobs block on it until it opens.
class Gate {
 public:
  // False when it stayed shut (a job that was never run to open it).
  bool pass() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kLongWait, [&] { return open_; });
  }
  void open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

WorkerPool::Options named(const char* name, unsigned maxThreads = 0) {
  WorkerPool::Options o;
  o.threadName = name;
  o.maxThreads = maxThreads;
  return o;
}

void orderWithOneThread() {
  WorkerPool pool(named("t-order", 1));
  std::vector<int> seen;
  std::mutex mu;
  Counter done;
  for (int i = 0; i < 100; i++) {
    pool.post([&, i] {
      std::lock_guard<std::mutex> lock(mu);
      seen.push_back(i);
      done.add();
    });
  }
  CHECK(done.waitFor(100), "100 jobs ran");
  bool inOrder = seen.size() == 100;
  for (size_t i = 0; inOrder && i < seen.size(); i++) inOrder = seen[i] == (int)i;
  CHECK(inOrder, "one thread runs the jobs in the order posted");
  CHECK(pool.threadCount() == 1, "one thread, got %zu", pool.threadCount());
}

void limits() {
  WorkerPool pool(named("t-limit", 3));
  Gate gate;
  Counter running, done;
  for (int i = 0; i < 10; i++) {
    pool.post([&] {
      running.add();
      (void)gate.pass();
      running.add(-1);
      done.add();
    });
  }
  CHECK(running.waitFor(3), "three jobs run at once");
  CHECK(pool.threadCount() == 3, "at most maxThreads threads, got %zu", pool.threadCount());
  CHECK(pool.queued() == 7, "the others wait, queued %zu", pool.queued());
  gate.open();
  CHECK(done.waitFor(10), "every job ran");
  CHECK(running.max() == 3, "never more than 3 at once, saw %d", running.max());

  // A post's own limit.
  WorkerPool wide(named("t-allowed", 8));
  Gate gate2;
  Counter running2, done2;
  for (int i = 0; i < 6; i++) {
    wide.post(
        [&] {
          running2.add();
          (void)gate2.pass();
          done2.add();
        },
        nullptr, 2);
  }
  CHECK(running2.waitFor(2), "two jobs run");
  CHECK(wide.threadCount() == 2, "threadsAllowed 2 starts 2 threads, got %zu", wide.threadCount());
  gate2.open();
  CHECK(done2.waitFor(6), "every job ran");
}

// Each job waits for the one posted after it: only a pool without a limit runs them all.
void jobsWaitingForLaterOnes() {
  WorkerPool pool(named("t-unlimited"));
  constexpr int kJobs = 12;
  std::vector<std::unique_ptr<Gate>> gates;
  for (int i = 0; i < kJobs; i++) gates.push_back(std::make_unique<Gate>());
  Counter done, stuck;
  for (int i = 0; i < kJobs; i++) {
    pool.post([&, i] {
      if (i > 0) gates[i - 1]->open();                   // the earlier job may go on
      if (i < kJobs - 1 && !gates[i]->pass()) stuck.add();  // waits for the next one to run
      done.add();
    });
  }
  CHECK(done.waitFor(kJobs), "every job ran (%d done)", done.value());
  CHECK(stuck.value() == 0, "no job waited in vain for a later one (%d did)", stuck.value());
}

void completions() {
  WorkerPool pool(named("t-done", 2));
  std::mutex mu;
  std::vector<std::string> outcomes;
  Counter done;
  std::atomic<bool> sameThread{true};
  auto record = [&](std::exception_ptr e) {
    std::string what = "ok";
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        what = x.what();
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    outcomes.push_back(what);
    done.add();
  };
  auto jobThread = std::make_shared<std::thread::id>();
  pool.post([jobThread] { *jobThread = std::this_thread::get_id(); },
            [&, jobThread](std::exception_ptr e) {
              if (*jobThread != std::this_thread::get_id()) sameThread = false;
              record(e);
            });
  CHECK(done.waitFor(1), "the completion ran");
  pool.post([] { throw std::runtime_error("store gone"); }, record);
  CHECK(done.waitFor(2), "the failing job's completion ran");
  // A job that throws with no completion: dropped, the thread stays.
  pool.post([] { throw std::runtime_error("dropped"); });
  pool.post([&] { done.add(); });
  CHECK(done.waitFor(3), "the pool goes on after a job threw");
  std::lock_guard<std::mutex> lock(mu);
  CHECK(outcomes.size() == 2 && outcomes[0] == "ok" && outcomes[1] == "store gone", "completions got null, then the exception");
  CHECK(sameThread, "the completion runs on the job's thread, right after it");
}

void threadNames() {
  WorkerPool pool(named("t-named-pool"));
  std::string name;
  Counter done;
  pool.post([&] {
    char buf[32] = {0};
    pthread_getname_np(pthread_self(), buf, sizeof buf);
    name = buf;
    done.add();
  });
  CHECK(done.waitFor(1), "job ran");
  CHECK(name == "t-named-pool", "thread named as the options say, got '%s'", name.c_str());
}

void stopRunsWhatIsQueued() {
  Counter done;
  Gate gate;
  {
    WorkerPool pool(named("t-stop", 1));
    pool.post([&] { (void)gate.pass(); });
    for (int i = 0; i < 5; i++) pool.post([&] { done.add(); });
    gate.open();
    pool.stop();
    CHECK(done.value() == 5, "stop() returns after the queued jobs ran, %d did", done.value());
    CHECK(!pool.post([&] { done.add(); }), "no job is taken once stopping");
    CHECK(pool.threadCount() == 0, "the threads are joined");
  }
  WorkerPool fixed([] {
    WorkerPool::Options o = named("t-fixed", 2);
    o.startThreads = 2;
    return o;
  }());
  CHECK(fixed.threadCount() == 2, "startThreads are started up front, got %zu", fixed.threadCount());
}

void abandonLeavesStuckThreads() {
  auto gate = std::make_shared<Gate>();
  auto finished = std::make_shared<Counter>();
  auto started = std::make_shared<Counter>();
  int droppedRan = 0;
  {
    WorkerPool pool(named("t-abandon", 1));
    pool.post([gate, finished, started] {
      started->add();
      (void)gate->pass();
      finished->add();
    });
    CHECK(started->waitFor(1), "the stuck job started");
    for (int i = 0; i < 3; i++) pool.post([&] { droppedRan++; });
    pool.abandon();
    CHECK(pool.queued() == 0, "abandon() drops the queued jobs");
  }  // the destructor does not wait for the stuck thread
  CHECK(finished->value() == 0, "the pool was destroyed while its thread was stuck");
  gate->open();
  CHECK(finished->waitFor(1), "the abandoned thread finishes its job after the pool is gone");
  CHECK(droppedRan == 0, "dropped jobs never run");
}

void idleHookAndRetirement() {
  auto idleCalls = std::make_shared<Counter>();
  WorkerPool::Options o = named("t-idle");
  o.idleTimeout = std::chrono::milliseconds(5);
  o.onIdle = [idleCalls] { idleCalls->add(); };
  o.retireIdle = true;
  WorkerPool pool(o);
  Counter done;
  pool.post([&] { done.add(); });
  CHECK(done.waitFor(1), "job ran");
  CHECK(idleCalls->waitFor(1), "an idle thread calls onIdle");
  bool retired = false;
  for (auto end = std::chrono::steady_clock::now() + kLongWait; !retired && std::chrono::steady_clock::now() < end;) {
    retired = pool.threadCount() == 0;
    if (!retired) std::this_thread::yield();
  }
  CHECK(retired, "an idle thread started on demand ends");
  pool.post([&] { done.add(); });
  CHECK(done.waitFor(2), "a post after retirement starts a thread again");

  // Threads started up front stay.
  auto idle2 = std::make_shared<Counter>();
  WorkerPool::Options f = named("t-stay", 2);
  f.startThreads = 2;
  f.idleTimeout = std::chrono::milliseconds(5);
  f.onIdle = [idle2] { idle2->add(); };
  f.retireIdle = true;
  WorkerPool fixed(f);
  CHECK(idle2->waitFor(2), "both called onIdle");
  Counter done2;
  fixed.post([&] { done2.add(); });
  CHECK(done2.waitFor(1), "job ran");
  CHECK(fixed.threadCount() == 2, "startThreads never retire, %zu left", fixed.threadCount());
}

}  // namespace

int main() {
  orderWithOneThread();
  limits();
  jobsWaitingForLaterOnes();
  completions();
  threadNames();
  stopRunsWhatIsQueued();
  abandonLeavesStuckThreads();
  idleHookAndRetirement();
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
