// The reader: one native thread per process that blocks in poll() on the userfaultfd contexts
// (and an eventfd for shutdown), reads fault messages and hands each to the mapping that owns
// the address. Never the JS thread, never busy-polling.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace ummap {

class UffdContext;
class Mapping;

void startFaultReader(std::vector<UffdContext*> contexts);

// Address -> mapping lookup used by the reader. Mappings add themselves once registered with
// userfaultfd and remove themselves before they unregister.
void registerMapping(const std::shared_ptr<Mapping>& mapping, uintptr_t start, size_t length);
void unregisterMapping(uintptr_t start);
std::shared_ptr<Mapping> findMapping(uintptr_t address);
std::vector<std::shared_ptr<Mapping>> allMappings();

// While one exists, the reader serves no fault: it keeps reading (fault messages wait in a list
// until the last one ends). For mremap of a registered range: the kernel blocks mremap until the
// reader reads its UFFD_EVENT_REMAP, and meanwhile fails UFFDIO_COPY / UFFDIO_WRITEPROTECT with
// EAGAIN, so a reader busy serving a fault (spinning on EAGAIN, or waiting for a mapping's lock
// held by a thread that spins) would never read it. The constructor waits for the fault being
// served to end: never construct one holding a mapping's lock, nor on the reader thread.
class FaultsHeld {
 public:
  FaultsHeld();
  ~FaultsHeld();
  FaultsHeld(const FaultsHeld&) = delete;
  FaultsHeld& operator=(const FaultsHeld&) = delete;
};

}  // namespace ummap
