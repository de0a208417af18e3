// Checked readers of the arguments of an export: a value of the wrong type throws a TypeError
// with code ERR_INVALID_ARG_TYPE, a number out of range a RangeError with code ERR_OUT_OF_RANGE
// (as Node's own APIs do), the message naming the argument. No export casts an argument it did
// not check.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace ioc {
namespace addon {
namespace arg {

// Argument i was given (not undefined).
inline bool given(const Napi::CallbackInfo& info, size_t i) { return i < info.Length() && !info[i].IsUndefined(); }

[[noreturn]] void throwType(Napi::Env env, const char* name, const char* expected, const Napi::Value& got);
[[noreturn]] void throwRange(Napi::Env env, const char* name, const char* expected, const std::string& got);

// The checks on one value (v, named name).
double number(const Napi::Value& v, const char* name);
size_t size(const Napi::Value& v, const char* name);       // a non-negative safe integer
int32_t int32(const Napi::Value& v, const char* name);     // an integer within int32
int64_t int64(const Napi::Value& v, const char* name);     // a bigint within int64, or a safe integer
uint64_t uint64(const Napi::Value& v, const char* name);   // a bigint within uint64, or a non-negative safe integer
bool boolean(const Napi::Value& v, const char* name);
std::string string(const Napi::Value& v, const char* name);
Napi::Object object(const Napi::Value& v, const char* name);
Napi::Uint8Array bytes(const Napi::Value& v, const char* name);
Napi::ArrayBuffer arrayBuffer(const Napi::Value& v, const char* name);

// The same on argument i of the call.
inline double number(const Napi::CallbackInfo& info, size_t i, const char* name) { return number(info[i], name); }
inline size_t size(const Napi::CallbackInfo& info, size_t i, const char* name) { return size(info[i], name); }
inline int32_t int32(const Napi::CallbackInfo& info, size_t i, const char* name) { return int32(info[i], name); }
inline int64_t int64(const Napi::CallbackInfo& info, size_t i, const char* name) { return int64(info[i], name); }
inline uint64_t uint64(const Napi::CallbackInfo& info, size_t i, const char* name) { return uint64(info[i], name); }
inline bool boolean(const Napi::CallbackInfo& info, size_t i, const char* name) { return boolean(info[i], name); }
inline std::string string(const Napi::CallbackInfo& info, size_t i, const char* name) { return string(info[i], name); }
inline Napi::Object object(const Napi::CallbackInfo& info, size_t i, const char* name) { return object(info[i], name); }
inline Napi::Uint8Array bytes(const Napi::CallbackInfo& info, size_t i, const char* name) { return bytes(info[i], name); }

// A native handle made by handle() with the same tag: its data. Another value, or a handle of
// another kind (a policy given for a mapping), throws ERR_INVALID_ARG_TYPE naming `what`.
template <typename T>
T& external(const Napi::Value& v, const napi_type_tag& tag, const char* name, const char* what);
// A new handle for JavaScript holding data (deleted when collected), tagged for external().
template <typename T>
Napi::External<T> handle(Napi::Env env, T* data, const napi_type_tag& tag);

// Implementation of the templates.
bool hasTag(const Napi::Value& v, const napi_type_tag& tag);
void setTag(Napi::Env env, const Napi::Value& v, const napi_type_tag& tag);

template <typename T>
T& external(const Napi::Value& v, const napi_type_tag& tag, const char* name, const char* what) {
  if (!v.IsExternal() || !hasTag(v, tag)) throwType(v.Env(), name, what, v);
  return *v.As<Napi::External<T>>().Data();
}

template <typename T>
Napi::External<T> handle(Napi::Env env, T* data, const napi_type_tag& tag) {
  auto h = Napi::External<T>::New(env, data, [](Napi::Env, T* p) { delete p; });
  setTag(env, h, tag);
  return h;
}

}  // namespace arg
}  // namespace addon
}  // namespace ioc
