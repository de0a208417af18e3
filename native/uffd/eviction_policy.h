// The evictor's brain: keeps resident segments under a memory limit. One policy object may be
// shared by several mappings (and threads) to give them a common quota. The policy only picks
// victims; the caller evicts them (write back + drop) without holding the policy lock, so the
// policy lock is always the innermost one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ummap {

class Mapping;

struct Victim {
  std::shared_ptr<Mapping> mapping;
  size_t segment;
  uint64_t generation;  // the load the entry refers to; stale if the segment was reloaded since
};

class EvictionPolicy {
 public:
  enum class Order { Fifo, Lifo };
  // Evict while resident bytes exceed limit; window > 0 evicts down to limit - window at once
  // (fifo-window: fewer, larger eviction rounds).
  EvictionPolicy(Order order, size_t limit, size_t window) : order_(order), limit_(limit), window_(window) {}

  // Before loading `incoming` bytes: the segments to evict first.
  void chooseVictims(size_t incoming, std::vector<Victim>& out);
  void onLoaded(const std::shared_ptr<Mapping>& mapping, size_t segment, uint64_t generation, size_t bytes);
  void onDropped(size_t bytes);
  // A victim that could not be evicted now (still counted in used): queue it again.
  void requeue(const std::shared_ptr<Mapping>& mapping, size_t segment, uint64_t generation, size_t bytes);

  size_t limit() const { return limit_; }
  size_t window() const { return window_; }
  Order order() const { return order_; }
  size_t used() const;

 private:
  struct Entry {
    std::weak_ptr<Mapping> mapping;
    size_t segment;
    uint64_t generation;
    size_t bytes;
  };
  bool isLive(const Entry& e) const;
  void compactIfStale();

  Order order_;
  size_t limit_, window_;
  mutable std::mutex mutex_;
  std::deque<Entry> entries_;  // load order; entries of dropped segments are skipped lazily
  size_t used_ = 0;
  size_t liveEntriesHint_ = 0;
};

}  // namespace ummap
