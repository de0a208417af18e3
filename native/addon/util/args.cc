#include "addon/util/args.h"

#include <cmath>

namespace ioc {
namespace addon {
namespace arg {
namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;  // Number.MAX_SAFE_INTEGER

// How a wrong value reads in a message: "type string ('abc')", "undefined", "an instance of Array".
std::string describe(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined:
      return "undefined";
    case napi_null:
      return "null";
    case napi_number:
      return "type number (" + v.ToString().Utf8Value() + ")";
    case napi_string: {
      std::string s = v.As<Napi::String>().Utf8Value();
      if (s.size() > 28) s = s.substr(0, 25) + "...";
      return "type string ('" + s + "')";
    }
    case napi_boolean:
      return std::string("type boolean (") + (v.As<Napi::Boolean>().Value() ? "true" : "false") + ")";
    case napi_bigint:
      return "type bigint (" + v.ToString().Utf8Value() + "n)";
    case napi_external:
      return "another kind of native handle";
    case napi_function:
      return "a function";
    case napi_object: {
      Napi::Value ctor = v.As<Napi::Object>().Get("constructor");
      if (ctor.IsFunction()) {
        Napi::Value name = ctor.As<Napi::Object>().Get("name");
        if (name.IsString()) return "an instance of " + name.As<Napi::String>().Utf8Value();
      }
      return "an object";
    }
    default:
      return "a symbol";
  }
}

}  // namespace

void throwType(Napi::Env env, const char* name, const char* expected, const Napi::Value& got) {
  Napi::TypeError e = Napi::TypeError::New(env, std::string("The \"") + name + "\" argument must be " + expected +
                                                    ". Received " + describe(got));
  e.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
  throw e;
}

void throwRange(Napi::Env env, const char* name, const char* expected, const std::string& got) {
  Napi::RangeError e = Napi::RangeError::New(env, std::string("The value of \"") + name + "\" is out of range. It must be " +
                                                      expected + ". Received " + got);
  e.Set("code", Napi::String::New(env, "ERR_OUT_OF_RANGE"));
  throw e;
}

double number(const Napi::Value& v, const char* name) {
  if (!v.IsNumber()) throwType(v.Env(), name, "of type number", v);
  return v.As<Napi::Number>().DoubleValue();
}

size_t size(const Napi::Value& v, const char* name) {
  double d = number(v, name);
  if (!(d >= 0 && d <= kMaxSafeInteger && std::floor(d) == d)) throwRange(v.Env(), name, "a non-negative safe integer", v.ToString());
  return static_cast<size_t>(d);
}

int32_t int32(const Napi::Value& v, const char* name) {
  double d = number(v, name);
  if (!(d >= INT32_MIN && d <= INT32_MAX && std::floor(d) == d)) throwRange(v.Env(), name, "an integer within int32", v.ToString());
  return static_cast<int32_t>(d);
}

int64_t int64(const Napi::Value& v, const char* name) {
  if (v.IsBigInt()) {
    bool lossless = false;
    int64_t r = v.As<Napi::BigInt>().Int64Value(&lossless);
    if (!lossless) throwRange(v.Env(), name, "within int64", v.ToString().Utf8Value() + "n");
    return r;
  }
  if (!v.IsNumber()) throwType(v.Env(), name, "of type bigint or number", v);
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(std::fabs(d) <= kMaxSafeInteger && std::floor(d) == d)) throwRange(v.Env(), name, "a safe integer", v.ToString());
  return static_cast<int64_t>(d);
}

uint64_t uint64(const Napi::Value& v, const char* name) {
  if (v.IsBigInt()) {
    bool lossless = false;
    uint64_t r = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) throwRange(v.Env(), name, "within uint64", v.ToString().Utf8Value() + "n");
    return r;
  }
  if (!v.IsNumber()) throwType(v.Env(), name, "of type bigint or number", v);
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= kMaxSafeInteger && std::floor(d) == d)) throwRange(v.Env(), name, "a non-negative safe integer", v.ToString());
  return static_cast<uint64_t>(d);
}

bool boolean(const Napi::Value& v, const char* name) {
  if (!v.IsBoolean()) throwType(v.Env(), name, "of type boolean", v);
  return v.As<Napi::Boolean>().Value();
}

std::string string(const Napi::Value& v, const char* name) {
  if (!v.IsString()) throwType(v.Env(), name, "of type string", v);
  return v.As<Napi::String>().Utf8Value();
}

Napi::Object object(const Napi::Value& v, const char* name) {
  if (!v.IsObject() || v.IsFunction()) throwType(v.Env(), name, "of type object", v);
  return v.As<Napi::Object>();
}

Napi::Uint8Array bytes(const Napi::Value& v, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throwType(v.Env(), name, "an instance of Uint8Array", v);
  }
  return v.As<Napi::Uint8Array>();
}

Napi::ArrayBuffer arrayBuffer(const Napi::Value& v, const char* name) {
  if (!v.IsArrayBuffer()) throwType(v.Env(), name, "an instance of ArrayBuffer", v);
  return v.As<Napi::ArrayBuffer>();
}

bool hasTag(const Napi::Value& v, const napi_type_tag& tag) {
  bool match = false;
  return napi_check_object_type_tag(v.Env(), v, &tag, &match) == napi_ok && match;
}

void setTag(Napi::Env env, const Napi::Value& v, const napi_type_tag& tag) {
  napi_status status = napi_type_tag_object(env, v, &tag);
  NAPI_THROW_IF_FAILED_VOID(env, status);
}

}  // namespace arg
}  // namespace addon
}  // namespace ioc
