#include "server/segment_memory.h"

#include <sys/mman.h>

namespace ioc {
namespace server {

char *AnonymousSegmentMemory::allocate(size_t size, void **desc) {
  void *p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  char *ptr = static_cast<char *>(p);
  *desc = nullptr;
  if (transport_.needsLocalMr()) {
    try {
      fabric::MemoryRegion mr(transport_.domain, transport_.info, ptr, size, FI_READ | FI_WRITE, nextKey_++);
      *desc = mr.desc();
      regions_.emplace(ptr, std::move(mr));
    } catch (const fabric::FabricError &) {
      munmap(ptr, size);
      return nullptr;
    }
  }
  return ptr;
}

void AnonymousSegmentMemory::release(char *ptr, size_t size) {
  regions_.erase(ptr);
  munmap(ptr, size);
}

}  // namespace server
}  // namespace ioc
