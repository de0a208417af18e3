// Shared by the mapping's files (mapping.cc: lifecycle; mapping_faults.cc: the fault path;
// mapping_write_back.cc: sync, flush, evict and the asynchronous snapshot write-back). Not for
// other users of mapping.h.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>
#include <system_error>

#include "mapping.h"
#include "storage_driver.h"

namespace ummap {
namespace detail {

extern std::atomic<uint64_t> loadCounter;  // generations: unique per load, never 0

constexpr size_t kFillChunk = 2 << 20;  // read-ahead installs in ~2 MiB steps to wake waiters early
constexpr size_t kReadAheadPiece = 1 << 20;  // a reader's read + install step (read_ahead.h)

[[noreturn]] inline void throwErrno(int negErrno, const std::string& what) {
  throw std::system_error(-negErrno, std::generic_category(), what);
}

inline size_t roundUp(size_t v, size_t to) { return (v + to - 1) / to * to; }

}  // namespace detail

// Waits (releasing the mapping's lock meanwhile) until `turn` is served; ends the turn when it
// goes out of scope, with the lock held again.
class Mapping::TurnHold {
 public:
  TurnHold(Mapping& m, std::unique_lock<std::mutex>& lock, uint64_t turn, WriteBackJob* job = nullptr)
      : m_(m), job_(job) {
    m_.turnChanged_.wait(lock, [&] { return m_.servingTurn_ == turn; });
  }
  ~TurnHold() {
    if (job_) {
      m_.pendingJobs_.erase(std::find(m_.pendingJobs_.begin(), m_.pendingJobs_.end(), job_));
      // Keep the largest copy for the next snapshot: a fresh one costs page faults.
      for (auto& copy : job_->copies)
        if (!m_.closed_ && (!m_.spareCopy_ || copy->size() > m_.spareCopy_->size())) m_.spareCopy_ = std::move(copy);
      job_->copies.clear();
    }
    m_.servingTurn_++;
    m_.turnChanged_.notify_all();
  }

 private:
  Mapping& m_;
  WriteBackJob* job_;
};

}  // namespace ummap
