// Node addon entry point: one module, two halves (see native/addon/client_binding.cc and
// native/uffd/binding.cc). The typed declaration of what it exports is src/native.ts.
#include <napi.h>

Napi::Object InitClientBinding(Napi::Env env, Napi::Object exports);
Napi::Object InitUmapBinding(Napi::Env env, Napi::Object exports);
Napi::Object InitFileBinding(Napi::Env env, Napi::Object exports);

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitClientBinding(env, exports);
  InitUmapBinding(env, exports);
  InitFileBinding(env, exports);
  return exports;
}

NODE_API_MODULE(iocatcher, Init)
