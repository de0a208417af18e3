// Small reads and writes and pings of the TypeScript client's native handle (client_binding.cc)
// run on the event loop itself when a pooled connection is idle: see LoopCall below.
#pragma once

#include <errno.h>
#include <napi.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#ifdef IOC_HAVE_UV
#include <uv.h>
#endif

#include "addon/client_call.h"
#include "addon/util/errors.h"
#include "client/connection.h"
#include "client/requests.h"
#include "common/failpoint.h"

namespace ioc {
namespace addon {

// Small reads and writes driven by the event loop itself: the request is sent from the JS
// thread, which then polls for the reply for up to IOC_CLIENT_SPIN_US (as the C client does)
// when no other call is in flight; a reply caught then settles the promise at once, with no
// libuv handle at all. Otherwise a uv_poll on the connection's completion-queue descriptor wakes
// the loop when the reply is in. One wake-up at most per call, as in the C client, instead of
// the three of a thread-pool round trip (queue to a worker, the reply, back to the loop) that
// cost ~50 us each here. Falls back to the thread pool when no connection is idle or the
// provider has no descriptor.
#ifdef IOC_HAVE_UV
template <class Call>
class LoopCall {
 public:
  // An empty value means "not here": the caller takes the thread-pool path.
  // viaPool: the same call through the C API (thread pool), its name for errors and the object
  // it keeps alive; run instead when this one's connection was reset (a stale pooled connection
  // after a server restart): the C API retries it once on a fresh connection.
  // needs: handshake features the server must have listed (else the pool path says why not);
  // value: the promise's value on success (else the call's number).
  static Napi::Value Start(Napi::Env env, const ClientRef &state, int64_t high, int64_t low, std::unique_ptr<Call> call,
                           ClientCall viaPool, uint64_t needs = 0, std::function<Napi::Value(Napi::Env)> value = nullptr) {
    if (!state->client || IOC_FAILPOINT(addon_no_loop_calls)) return Napi::Value();
    ioc::client::Borrowed b = ioc::client::tryBorrowIdle(state->client, high, low);
    if (!b.conn) return Napi::Value();
    if (b.conn->waitFd() < 0 || (b.conn->features() & needs) != needs) {
      ioc::client::giveBack(b);
      return Napi::Value();
    }
    Napi::Object keep = viaPool.keep.IsObject() ? viaPool.keep.As<Napi::Object>() : Napi::Object::New(env);
    auto *c = new LoopCall(env, state, b, std::move(call), keep);
    c->retry_ = std::move(viaPool);
    c->value_ = std::move(value);
    Napi::Promise p = c->deferred_.Promise();
    Call *req = c->call_.get();
    int ret = b.conn->begin(
        req->msgType(), [req](ioc::proto::Writer &w) { req->encode(w); }, req->replyType(),
        [req](uint64_t, ioc::proto::Reader &r) { return req->onReply(r); });
    // With other calls in flight the loop has work to do: never spin then.
    if (ret < 0 || c->drive(state->inflight == 1 ? ioc::client::Connection::spinMicros() : 0)) {
      c->settle(ret < 0 ? ret : c->result_, false);  // still inside the JS call: resolve directly
      return p;
    }
    uv_loop_t *loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    uv_poll_init(loop, &c->poll_, b.conn->waitFd());
    uv_timer_init(loop, &c->timer_);
    c->poll_.data = c->timer_.data = c;
    uv_poll_start(&c->poll_, UV_READABLE, [](uv_poll_t *h, int, int) { static_cast<LoopCall *>(h->data)->step(); });
    uv_timer_start(&c->timer_, [](uv_timer_t *h) { static_cast<LoopCall *>(h->data)->onTimer(); }, 20, 20);
    return p;
  }

 private:
  LoopCall(Napi::Env env, ClientRef state, ioc::client::Borrowed b, std::unique_ptr<Call> call,
           Napi::Object keep)
      : env_(env), state_(std::move(state)), b_(b), call_(std::move(call)),
        deferred_(Napi::Promise::Deferred::New(env)), keep_(Napi::Persistent(keep)) {
    state_->inflight++;
  }

  // Handle what completed, polling for up to spinUs first; true once the call is over (result_).
  bool drive(int spinUs) {
    auto spinEnd = std::chrono::steady_clock::now() + std::chrono::microseconds(spinUs);
    for (int i = 0; i < 64; i++) {
      int r = b_.conn->advance();
      if (r != 0) {
        result_ = r < 0 ? r : b_.conn->status() < 0 ? b_.conn->status() : call_->result();
        if (result_ < 0) reason_ = b_.conn->replyReason();
        return true;
      }
      if (spinUs > 0 && std::chrono::steady_clock::now() < spinEnd) {
        i = 0;
        continue;
      }
      if (b_.conn->tryWait()) return false;
    }
    return false;
  }
  void step() {
    if (!closing_ && drive(0)) finish();
  }
  void onTimer() {
    if (closing_) return;
    int r = b_.conn->checkAlive();  // deadline and server liveness
    if (r < 0) {
      result_ = r;
      return finish();
    }
    step();
  }
  // Over while the handles are armed: close both, then settle from the loop.
  void finish() {
    closing_ = true;
    uv_poll_stop(&poll_);
    uv_timer_stop(&timer_);
    auto onClose = [](uv_handle_t *h) {
      auto *c = static_cast<LoopCall *>(h->data);
      if (++c->closed_ == 2) c->settle(c->result_, true);
    };
    uv_close(reinterpret_cast<uv_handle_t *>(&poll_), onClose);
    uv_close(reinterpret_cast<uv_handle_t *>(&timer_), onClose);
  }
  // The connection can serve others, and the promise settles (from the loop: in a callback scope).
  // Resolving from the loop runs the continuation (often the next call) at once, so this call
  // stops counting as in flight first; otherwise the next call would never spin.
  // From a libuv callback no V8 handle scope is open: both paths create handles (the retry's
  // job and its reference too), so the scope covers the whole settlement.
  void settle(int64_t result, bool fromLoop) {
    ioc::client::giveBack(b_);
    {
      Napi::HandleScope scope(env_);
      if (result == -ECONNRESET && retry_.fn && state_->client) {
        retry_.keep = keep_.Value();
        try {
          startCallInto(env_, state_, deferred_, std::move(retry_));
        } catch (...) {
          deferred_.Reject(errorOf(env_, std::current_exception()).Value());
        }
        state_->inflight--;
      } else {
        state_->inflight--;
        if (fromLoop) {
          Napi::AsyncContext context(env_, "iocatcher:call");
          Napi::CallbackScope callbackScope(env_, context);
          settleWith(result);
        } else {
          settleWith(result);
        }
        state_->maybeFree();
      }
    }
    delete this;
  }
  void settleWith(int64_t result) {
    if (result >= 0) deferred_.Resolve(value_ ? value_(env_) : Napi::Number::New(env_, (double)result));
    else deferred_.Reject(callError(env_, retry_.what, result, reason_).Value());
  }

  Napi::Env env_;
  ClientRef state_;
  ioc::client::Borrowed b_;
  std::unique_ptr<Call> call_;
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference keep_;
  ClientCall retry_;
  std::function<Napi::Value(Napi::Env)> value_;
  uv_poll_t poll_;
  uv_timer_t timer_;
  bool closing_ = false;
  int closed_ = 0;
  int64_t result_ = 0;
  std::string reason_;
};
#else
template <class Call>
struct LoopCall {
  static Napi::Value Start(Napi::Env, const ClientRef &, int64_t, int64_t, std::unique_ptr<Call>, ClientCall) {
    return Napi::Value();
  }
};
#endif

}  // namespace addon
}  // namespace ioc
