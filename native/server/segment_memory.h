// Segment memory from anonymous mappings (pages are only committed when touched), registered
// with libfabric once per allocation when the provider asks for FI_MR_LOCAL.
#pragma once

#include <map>
#include <memory>

#include "fabric/fabric.h"
#include "server/segment_cache.h"

namespace ioc {
namespace server {

class AnonymousSegmentMemory : public SegmentMemory {
 public:
  explicit AnonymousSegmentMemory(fabric::Transport &transport) : transport_(transport) {}
  char *allocate(size_t size, void **desc) override;
  void release(char *ptr, size_t size) override;

 private:
  fabric::Transport &transport_;
  std::map<char *, fabric::MemoryRegion> regions_;
  uint64_t nextKey_ = 1;
};

}  // namespace server
}  // namespace ioc
