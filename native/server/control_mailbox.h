// One question at a time from the control thread (metrics endpoint, iocatcher admin command) to
// the fabric thread, which owns what the answers are made of (the cache, the counters).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>

namespace ioc {
namespace server {

class ControlMailbox {
 public:
  // Control thread: post the command, wake the fabric thread (wake) and wait for its answer,
  // at most `patience`; an error answer (JSON) when it does not come or the mailbox is closed.
  std::string ask(const std::string &command, const std::function<void()> &wake,
                  std::chrono::milliseconds patience = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mu_);
    if (closed_) return closedAnswer_;
    command_ = command;
    pending_ = true;
    wake();
    if (!cv_.wait_for(lock, patience, [&] { return !pending_; })) {
      pending_ = false;
      return "{\"error\":\"the server loop did not answer in time\"}";
    }
    return answer_;
  }
  // Fabric thread: answer the pending command, if any, with answerOf(command).
  void serve(const std::function<std::string(const std::string &)> &answerOf) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!pending_) return;
    answer_ = answerOf(command_);
    pending_ = false;
    cv_.notify_all();
  }
  // Fabric thread, at shutdown: every question now and later gets `answer`.
  void close(const std::string &answer) {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    closedAnswer_ = answer_ = answer;
    pending_ = false;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::string command_, answer_, closedAnswer_;
  bool pending_ = false, closed_ = false;
};

}  // namespace server
}  // namespace ioc
