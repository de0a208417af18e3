// State kept per JavaScript environment (the main thread, each worker thread), without the
// module's single instance-data slot: perEnv<T>(env) makes one T on first use and destroys it
// when the environment is torn down (normal exit, worker termination), the last made first.
#pragma once

#include <napi.h>

namespace ioc {
namespace addon {

namespace detail {
using Make = void* (*)();
using Destroy = void (*)(void*);
// The env's object under key, made with make on first use.
void* envSlot(napi_env env, const void* key, Make make, Destroy destroy);
template <typename T>
struct SlotKey {
  static constexpr char key = 0;
};
}  // namespace detail

// On the environment's JavaScript thread only.
template <typename T>
T& perEnv(Napi::Env env) {
  return *static_cast<T*>(detail::envSlot(
      env, &detail::SlotKey<T>::key, []() -> void* { return new T(); }, [](void* p) { delete static_cast<T*>(p); }));
}

}  // namespace addon
}  // namespace ioc
