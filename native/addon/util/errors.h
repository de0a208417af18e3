// The addon's one error convention at the JavaScript boundary: a failure is a JS Error with
// .code (the errno's name: 'ENOENT', 'EBUSY', ...), .errno (the negative errno) and a message,
// plus .reason when a server or the client explained it. Synchronous exports throw it,
// asynchronous ones reject with it (async_work.h). Bad arguments are TypeErrors (args.h).
#pragma once

#include <napi.h>

#include <exception>
#include <string>
#include <system_error>

namespace ioc {
namespace addon {

// A failed native call with its errno (positive) and the reason the server or the client gave
// ("" when none). Thrown off the JavaScript thread; errorOf() makes it a JS Error there.
class ErrnoFailure : public std::system_error {
 public:
  ErrnoFailure(int err, const std::string& what, std::string reason = "")
      : std::system_error(err, std::generic_category(), what), reason_(std::move(reason)) {}
  const std::string& reason() const { return reason_; }

 private:
  std::string reason_;
};

// The JS Error of errno err (positive or negative): .code, .errno (negative), the message, and
// .reason when not empty.
Napi::Error errnoError(Napi::Env env, int err, const std::string& message, const std::string& reason = "");

// The JS error of a C++ exception: a Napi::Error as it is; a std::system_error (ErrnoFailure
// too) with its errno; std::invalid_argument and std::out_of_range as EINVAL; std::bad_alloc
// as ENOMEM; anything else as EIO.
Napi::Error errorOf(Napi::Env env, std::exception_ptr e);

// Runs body on the JavaScript thread; what it throws is thrown to JavaScript as errorOf() says.
template <typename F>
Napi::Value guarded(Napi::Env env, F&& body) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw errorOf(env, std::current_exception());
  }
}

}  // namespace addon
}  // namespace ioc
