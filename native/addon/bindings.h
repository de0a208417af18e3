// The addon's exported families, each in its own file; module.cc puts them on the module.
// The typed declaration of what they export is src/native.ts (src/client/native-types.ts,
// src/ummap/native-types.ts).
#pragma once

#include <napi.h>

namespace ioc {
namespace addon {

void InitMappingBinding(Napi::Env env, Napi::Object exports);  // mapping_binding.cc: umap*
void InitPolicyBinding(Napi::Env env, Napi::Object exports);   // policy_binding.cc: umapPolicy*
void InitClientBinding(Napi::Env env, Napi::Object exports);   // client_binding.cc: clientConnect
void InitFileBinding(Napi::Env env, Napi::Object exports);     // file_binding.cc: fileAllocate
#ifdef IOC_FAILPOINTS_ENABLED
void InitTestBinding(Napi::Env env, Napi::Object exports);  // test_binding.cc: umapTest*, umapBench*
#endif

}  // namespace addon
}  // namespace ioc
