#include "addon/client_call.h"

#include <errno.h>

#include "addon/util/errors.h"

namespace ioc {
namespace addon {

WorkerPool& clientPool() {
  static WorkerPool* pool = [] {
    WorkerPool::Options o;
    o.threadName = "ioc-client-call";
    o.maxThreads = IOC_CLIENT_MAX_CONNECTIONS;
    return new WorkerPool(o);
  }();
  return *pool;
}

Napi::Error callError(Napi::Env env, const std::string& what, int64_t result, const std::string& reason) {
  int err = result < 0 ? (int)-result : EIO;
  return errnoError(env, err, what + ": " + strerror(err), reason);
}

void startCallInto(Napi::Env env, const ClientRef& state, Napi::Promise::Deferred deferred, ClientCall call) {
  state->inflight++;
  AsyncCall async;
  async.keep = call.keep;
  async.work = [state, what = call.what, fn = std::move(call.fn), onSuccess = std::move(call.onSuccess)]() -> JsValue {
    int64_t result = state->client ? fn(state->client) : -EBADF;
    if (result < 0) {
      // The reason is the calling thread's: read on the thread that made the call.
      std::string reason = state->client ? ioc_client_last_error(state->client) : "";
      throw ErrnoFailure((int)-result, what, reason);
    }
    if (onSuccess) return onSuccess;
    return [result](Napi::Env e) { return Napi::Number::New(e, (double)result); };
  };
  async.onSettled = [state, onSettled = std::move(call.onSettled)] {
    if (onSettled) onSettled();
    state->inflight--;
    state->maybeFree();
  };
  try {
    runAsyncInto(env, clientPool(), deferred, std::move(async));
  } catch (...) {
    state->inflight--;
    throw;
  }
}

Napi::Promise startCall(Napi::Env env, const ClientRef& state, ClientCall call) {
  auto deferred = Napi::Promise::Deferred::New(env);
  startCallInto(env, state, deferred, std::move(call));
  return deferred.Promise();
}

}  // namespace addon
}  // namespace ioc
