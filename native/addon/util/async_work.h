// The promise runner of every asynchronous export: the work runs on a worker pool
// (common/worker_pool.h), the promise settles on the JavaScript thread. Work that returns
// resolves the promise with the value its JsValue builds there (undefined when empty); work that
// throws rejects it with the error errors.h makes of the exception.
//
// Settling goes through one thread-safe function per environment, referenced only while calls
// are in flight (a pending promise keeps the process alive, an idle addon does not). A call that
// ends after its environment was torn down is dropped: nobody waits for its promise.
#pragma once

#include <napi.h>

#include <functional>

#include "common/worker_pool.h"

namespace ioc {
namespace addon {

// Builds the promise's value on the JavaScript thread; may throw as errors.h says.
using JsValue = std::function<Napi::Value(Napi::Env)>;

struct AsyncCall {
  std::function<JsValue()> work;   // on a pool thread
  Napi::Value keep;                // held until settled (a buffer the work reads or writes)
  std::function<void()> onSettled;  // on the JavaScript thread, before the promise settles
};

// Runs call.work on pool; returns its promise.
Napi::Promise runAsync(Napi::Env env, WorkerPool& pool, AsyncCall call);
// The same, settling a promise made earlier (a call first tried on the event loop).
void runAsyncInto(Napi::Env env, WorkerPool& pool, Napi::Promise::Deferred deferred, AsyncCall call);

}  // namespace addon
}  // namespace ioc
