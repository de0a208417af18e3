#include "addon/util/errors.h"

#include <errno.h>
#include <string.h>

#include <new>
#include <stdexcept>

namespace ioc {
namespace addon {

Napi::Error errnoError(Napi::Env env, int err, const std::string& message, const std::string& reason) {
  if (err < 0) err = -err;
  if (err == 0) err = EIO;
  Napi::Error e = Napi::Error::New(env, message);
  const char* name = strerrorname_np(err);
  e.Set("code", Napi::String::New(env, name ? name : "EIO"));
  e.Set("errno", Napi::Number::New(env, -err));
  if (!reason.empty()) e.Set("reason", Napi::String::New(env, reason));
  return e;
}

Napi::Error errorOf(Napi::Env env, std::exception_ptr thrown) {
  try {
    std::rethrow_exception(thrown);
  } catch (const Napi::Error& e) {
    return e;
  } catch (const ErrnoFailure& e) {
    return errnoError(env, e.code().value(), e.what(), e.reason());
  } catch (const std::system_error& e) {
    return errnoError(env, e.code().value(), e.what());
  } catch (const std::invalid_argument& e) {
    return errnoError(env, EINVAL, e.what());
  } catch (const std::out_of_range& e) {
    return errnoError(env, EINVAL, e.what());
  } catch (const std::bad_alloc&) {
    return errnoError(env, ENOMEM, "out of memory");
  } catch (const std::exception& e) {
    return errnoError(env, EIO, e.what());
  } catch (...) {
    return errnoError(env, EIO, "unknown native error");
  }
}

}  // namespace addon
}  // namespace ioc
