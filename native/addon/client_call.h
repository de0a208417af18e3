// How a call of the TypeScript client's native handle (client_binding.cc) runs: the C client
// API on a pool thread (clientPool) through the promise runner (util/async_work.h). The promise
// resolves with the call's number, or with what a JsValue builds from its result; a failure
// rejects with the errno error of util/errors.h, whose .reason is the server's or the client's
// explanation (ioc_client_last_error) when there is one.
#pragma once

#include <napi.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "addon/util/async_work.h"
#include "iocatcher-client.h"

namespace ioc {
namespace addon {

// Owns the ioc_client_t; freed when the JS handle is closed and no call is in flight.
struct ClientState {
  ioc_client_t* client = nullptr;
  std::atomic<int> inflight{0};
  std::atomic<bool> closed{false};
  void maybeFree() {
    if (closed && inflight == 0 && client) {
      ioc_client_fini(client);
      client = nullptr;
    }
  }
};
using ClientRef = std::shared_ptr<ClientState>;

// The client calls' threads: no more than a server's pooled connections (a call beyond them
// would wait for a connection anyway).
WorkerPool& clientPool();

// A C API call, run on a pool thread: >= 0 success, < 0 a negative errno.
using ClientFn = std::function<int64_t(ioc_client_t*)>;

struct ClientCall {
  std::string what;                                 // the call's name, in its error's message
  ClientFn fn;
  Napi::Value keep;                                 // held until settled (the call's buffer)
  std::function<Napi::Value(Napi::Env)> onSuccess;  // the promise's value (else the number)
  std::function<void()> onSettled;                  // JavaScript thread, before it settles
};

// Starts the call; it counts as in flight until settled.
Napi::Promise startCall(Napi::Env env, const ClientRef& state, ClientCall call);
// The same, settling a promise made earlier (a call first tried on the event loop).
void startCallInto(Napi::Env env, const ClientRef& state, Napi::Promise::Deferred deferred, ClientCall call);

// The JS error of a failed call (result < 0) and its reason ("" when none).
Napi::Error callError(Napi::Env env, const std::string& what, int64_t result, const std::string& reason);

}  // namespace addon
}  // namespace ioc
