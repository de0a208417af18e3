// Requests that wait for the cache (a segment being loaded or written in place, room being made
// by spills, a store job on the object): a copy of each message, handled again from the start
// whenever the cache makes progress, answered ETIMEDOUT at its deadline. Bounded: beyond MAX
// the server refuses with EAGAIN. Fabric thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <vector>

#include "server/request_context.h"

namespace ioc {
namespace server {

class ParkingLot {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr size_t MAX = 4096;
  struct Parked {
    std::vector<char> msg;
    ReplyTo to;
    Clock::time_point arrived, deadline;
  };
  bool full() const { return parked_.size() >= MAX; }
  bool empty() const { return parked_.empty(); }
  size_t size() const { return parked_.size(); }
  void add(Parked p) { parked_.push_back(std::move(p)); }
  // The requests due now, in arrival order: those past their deadline into `expired`, and, when
  // the cache's progress count moved since the last call, every other one into `retry` (they
  // leave the lot; a retry that must wait again is added anew). The rest stay.
  void takeDue(uint64_t progress, Clock::time_point now, std::deque<Parked> &retry, std::deque<Parked> &expired) {
    bool progressed = progress != lastProgress_;
    lastProgress_ = progress;
    std::deque<Parked> waiting;
    waiting.swap(parked_);
    for (Parked &p : waiting) {
      if (now >= p.deadline) expired.push_back(std::move(p));
      else if (progressed) retry.push_back(std::move(p));
      else parked_.push_back(std::move(p));
    }
  }

 private:
  std::deque<Parked> parked_;
  uint64_t lastProgress_ = 0;
};

}  // namespace server
}  // namespace ioc
