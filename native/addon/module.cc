// The Node addon's entry point (iocatcher.node): every family of exports (bindings.h).
#include "addon/bindings.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  using namespace ioc::addon;
  InitClientBinding(env, exports);
  InitMappingBinding(env, exports);
  InitPolicyBinding(env, exports);
  InitFileBinding(env, exports);
#ifdef IOC_FAILPOINTS_ENABLED
  InitTestBinding(env, exports);
#endif
  return exports;
}

}  // namespace

NODE_API_MODULE(iocatcher, Init)
