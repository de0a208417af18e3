#include "addon/util/env_cleanup.h"

#include <map>
#include <mutex>
#include <utility>
#include <vector>

namespace ioc {
namespace addon {
namespace detail {
namespace {

struct Slot {
  const void* key;
  void* object;
  Destroy destroy;
};

// Every environment's slots, in the order they were made. Environments of worker threads come
// and go concurrently: one lock for all.
std::mutex slotsMutex;
std::map<napi_env, std::vector<Slot>> slotsByEnv;

void teardown(void* arg) {
  auto env = static_cast<napi_env>(arg);
  std::vector<Slot> slots;
  {
    std::lock_guard<std::mutex> lock(slotsMutex);
    auto it = slotsByEnv.find(env);
    if (it == slotsByEnv.end()) return;
    slots = std::move(it->second);
    slotsByEnv.erase(it);
  }
  // Outside the lock: a destructor may take a while (a mapping written back on unmap).
  for (auto s = slots.rbegin(); s != slots.rend(); ++s) s->destroy(s->object);
}

}  // namespace

void* envSlot(napi_env env, const void* key, Make make, Destroy destroy) {
  std::lock_guard<std::mutex> lock(slotsMutex);
  auto [it, first] = slotsByEnv.try_emplace(env);
  if (first) napi_add_env_cleanup_hook(env, teardown, env);
  for (const Slot& s : it->second)
    if (s.key == key) return s.object;
  it->second.push_back({key, make(), destroy});
  return it->second.back().object;
}

}  // namespace detail
}  // namespace addon
}  // namespace ioc
