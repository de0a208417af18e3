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

}  // namespace ummap
