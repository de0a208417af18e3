#include "eviction_policy.h"

#include "mapping.h"

namespace ummap {

bool EvictionPolicy::isLive(const Entry& e) const {
  auto m = e.mapping.lock();
  return m && m->isResident(e.segment, e.generation);
}

void EvictionPolicy::chooseVictims(size_t incoming, std::vector<Victim>& out) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (used_ + incoming <= limit_) return;
  size_t target = limit_ > window_ ? limit_ - window_ : 0;
  size_t planned = used_;
  while (planned + incoming > target && !entries_.empty()) {
    Entry e = order_ == Order::Fifo ? entries_.front() : entries_.back();
    if (order_ == Order::Fifo)
      entries_.pop_front();
    else
      entries_.pop_back();
    auto m = e.mapping.lock();
    if (!m || !m->isResident(e.segment, e.generation)) continue;  // dropped meanwhile
    out.push_back({std::move(m), e.segment, e.generation});
    planned = planned > e.bytes ? planned - e.bytes : 0;
  }
}

void EvictionPolicy::onLoaded(const std::shared_ptr<Mapping>& mapping, size_t segment, uint64_t generation, size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  entries_.push_back({mapping, segment, generation, bytes});
  used_ += bytes;
  compactIfStale();
}

void EvictionPolicy::onDropped(size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  used_ = used_ > bytes ? used_ - bytes : 0;
}

void EvictionPolicy::requeue(const std::shared_ptr<Mapping>& mapping, size_t segment, uint64_t generation, size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  entries_.push_back({mapping, segment, generation, bytes});
}

size_t EvictionPolicy::used() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return used_;
}

// Segments dropped by sync({evict}) or unmap leave entries behind; rebuild the queue when they
// outnumber the live ones so it stays proportional to resident memory.
void EvictionPolicy::compactIfStale() {
  if (entries_.size() < 2 * liveEntriesHint_ + 1024) return;
  std::deque<Entry> live;
  for (auto& e : entries_)
    if (isLive(e)) live.push_back(std::move(e));
  entries_.swap(live);
  liveEntriesHint_ = entries_.size();
}

}  // namespace ummap
