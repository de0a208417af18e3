#include "addon/util/async_work.h"

#include <errno.h>

#include <memory>
#include <mutex>
#include <system_error>

#include "addon/util/env_cleanup.h"
#include "addon/util/errors.h"

namespace ioc {
namespace addon {
namespace {

struct Job {
  Napi::Promise::Deferred deferred;
  std::function<JsValue()> work;
  Napi::Reference<Napi::Value> keep;
  std::function<void()> onSettled;
  JsValue value;
  std::exception_ptr error;
  // Without its environment (torn down): the references must not be released into it.
  void abandon() {
    keep.SuppressDestruct();
    delete this;
  }
};

// An environment's way back from the pool threads: its thread-safe function while it lives.
// Kept alive by the function itself (freed by its finalizer) and by the calls in flight.
struct Channel {
  std::mutex mu;
  napi_env env = nullptr;
  napi_threadsafe_function tsfn = nullptr;  // null once the environment is going away
  size_t inflight = 0;

  // Hands a finished job to the JavaScript thread (any thread).
  void deliver(Job* job) {
    std::lock_guard<std::mutex> lock(mu);
    if (!tsfn || napi_call_threadsafe_function(tsfn, job, napi_tsfn_nonblocking) != napi_ok) job->abandon();
  }
  void close() {
    std::lock_guard<std::mutex> lock(mu);
    tsfn = nullptr;
  }
  // JavaScript thread: the function keeps the event loop alive only while calls are in flight.
  void started() {
    std::lock_guard<std::mutex> lock(mu);
    if (inflight++ == 0 && tsfn) napi_ref_threadsafe_function(env, tsfn);
  }
  void ended() {
    std::lock_guard<std::mutex> lock(mu);
    if (--inflight == 0 && tsfn) napi_unref_threadsafe_function(env, tsfn);
  }
};

void settle(napi_env rawEnv, napi_value, void* context, void* data);

// One per environment (env_cleanup.h).
struct EnvRunner {
  std::shared_ptr<Channel> channel;

  ~EnvRunner() {
    if (channel) channel->close();
  }

  void open(napi_env env) {
    if (channel) return;
    auto ch = std::make_shared<Channel>();
    ch->env = env;
    napi_value name;
    NAPI_THROW_IF_FAILED_VOID(env, napi_create_string_utf8(env, "iocatcher:async", NAPI_AUTO_LENGTH, &name));
    // The finalizer runs when Node tears the function down with its environment, before it
    // frees it: from then on the pool threads drop what they finish.
    auto* hold = new std::shared_ptr<Channel>(ch);
    napi_threadsafe_function tsfn;
    napi_status s = napi_create_threadsafe_function(
        env, nullptr, nullptr, name, 0, 1, hold,
        [](napi_env, void* data, void*) {
          auto* held = static_cast<std::shared_ptr<Channel>*>(data);
          (*held)->close();
          delete held;
        },
        ch.get(), settle, &tsfn);
    if (s != napi_ok) {
      delete hold;
      NAPI_THROW_IF_FAILED_VOID(env, s);
    }
    napi_unref_threadsafe_function(env, tsfn);
    ch->tsfn = tsfn;
    channel = ch;
  }
};

void settle(napi_env rawEnv, napi_value, void* context, void* data) {
  auto* job = static_cast<Job*>(data);
  if (!rawEnv) return job->abandon();  // the environment is going away: nobody waits
  static_cast<Channel*>(context)->ended();
  std::unique_ptr<Job> done(job);
  Napi::Env env(rawEnv);
  Napi::HandleScope scope(env);
  // From a libuv callback: continuations of the promise run when this scope closes.
  Napi::AsyncContext asyncContext(env, "iocatcher:async");
  Napi::CallbackScope callbackScope(env, asyncContext);
  if (job->onSettled) job->onSettled();
  if (job->error) return job->deferred.Reject(errorOf(env, job->error).Value());
  try {
    job->deferred.Resolve(job->value ? job->value(env) : env.Undefined());
  } catch (...) {
    job->deferred.Reject(errorOf(env, std::current_exception()).Value());
  }
}

}  // namespace

void runAsyncInto(Napi::Env env, WorkerPool& pool, Napi::Promise::Deferred deferred, AsyncCall call) {
  EnvRunner& runner = perEnv<EnvRunner>(env);
  runner.open(env);
  std::shared_ptr<Channel> channel = runner.channel;
  auto job = std::make_unique<Job>(Job{deferred, std::move(call.work), {}, std::move(call.onSettled), {}, {}});
  if (!call.keep.IsEmpty()) job->keep = Napi::Persistent(call.keep);
  Job* raw = job.get();
  channel->started();
  bool queued = false;
  try {
    queued = pool.post([raw] { raw->value = raw->work(); },
                       [raw, channel](std::exception_ptr e) {
                         raw->error = e;
                         raw->work = nullptr;  // its captures are released here, off the JavaScript thread
                         channel->deliver(raw);
                       });
  } catch (...) {
    channel->ended();
    throw;
  }
  if (!queued) {
    channel->ended();
    throw std::system_error(ESHUTDOWN, std::generic_category(), "the worker threads are stopping");
  }
  job.release();  // the pool's now: settle() or abandon() deletes it
}

Napi::Promise runAsync(Napi::Env env, WorkerPool& pool, AsyncCall call) {
  auto deferred = Napi::Promise::Deferred::New(env);
  runAsyncInto(env, pool, deferred, std::move(call));
  return deferred.Promise();
}

}  // namespace addon
}  // namespace ioc
