// TypeScript client half of the addon: each call runs the C client API on a libuv worker thread
// (Napi::AsyncWorker), so the event loop never blocks. Results are raw errno-style numbers; the
// TypeScript layer (src/client) turns negative ones into IocError with a code.
#include <errno.h>
#include <napi.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#ifdef IOC_HAVE_UV
#include <uv.h>
#endif

#include "client/connection.h"
#include "client/requests.h"
#include "common/failpoint.h"
#include "iocatcher-client.h"

namespace {

// Owns the ioc_client_t; freed when the JS handle is closed and no call is in flight.
struct ClientState {
  ioc_client_t *client = nullptr;
  std::atomic<int> inflight{0};
  std::atomic<bool> closed{false};
  void maybeFree() {
    if (closed && inflight == 0 && client) {
      ioc_client_fini(client);
      client = nullptr;
    }
  }
};

// A call's outcome for JavaScript: its number, or for a failure the server explained (a
// ReplyReason, or the client's refusal of a namespace call) {ret, reason}.
Napi::Value outcome(Napi::Env env, int64_t ret, const std::string &reason) {
  if (ret >= 0 || reason.empty()) return Napi::Number::New(env, (double)ret);
  Napi::Object o = Napi::Object::New(env);
  o.Set("ret", Napi::Number::New(env, (double)ret));
  o.Set("reason", Napi::String::New(env, reason));
  return o;
}

// Runs fn on a worker thread; resolves its promise with fn's int64 result (outcome()), or with
// onOk's value when it succeeded and onOk is set.
class CallWorker : public Napi::AsyncWorker {
 public:
  CallWorker(Napi::Env env, std::shared_ptr<ClientState> state, std::function<int64_t(ioc_client_t *)> fn)
      : CallWorker(env, std::move(state), std::move(fn), Napi::Promise::Deferred::New(env)) {}
  // Settles a promise made earlier (a loop call handed over to the thread pool).
  CallWorker(Napi::Env env, std::shared_ptr<ClientState> state, std::function<int64_t(ioc_client_t *)> fn,
             Napi::Promise::Deferred deferred)
      : Napi::AsyncWorker(env), state_(std::move(state)), fn_(std::move(fn)), deferred_(deferred) {
    state_->inflight++;
  }
  void keepAlive(Napi::Value v) { ref_ = Napi::Persistent(v.As<Napi::Object>()); }
  void onSuccess(std::function<Napi::Value(Napi::Env)> f) { onOk_ = std::move(f); }
  void onSettled(std::function<void()> f) { onSettled_ = std::move(f); }
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    result_ = state_->client ? fn_(state_->client) : -EBADF;
    // The reason is the calling thread's: read on the thread that made the call.
    if (result_ < 0 && state_->client) reason_ = ioc_client_last_error(state_->client);
  }
  void OnOK() override {
    if (onSettled_) onSettled_();
    state_->inflight--;
    state_->maybeFree();
    deferred_.Resolve(result_ >= 0 && onOk_ ? onOk_(Env()) : outcome(Env(), result_, reason_));
  }
  // Execute() threw (it should not): still settle the promise, as an I/O error.
  void OnError(const Napi::Error &) override {
    if (onSettled_) onSettled_();
    state_->inflight--;
    state_->maybeFree();
    deferred_.Resolve(Napi::Number::New(Env(), (double)-EIO));
  }

 private:
  std::shared_ptr<ClientState> state_;
  std::function<int64_t(ioc_client_t *)> fn_;
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference ref_;
  std::function<Napi::Value(Napi::Env)> onOk_;
  std::function<void()> onSettled_;
  int64_t result_ = 0;
  std::string reason_;
};

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
  // retry: the same call through the C API (thread pool), run when this one's connection was
  // reset (a stale pooled connection after a server restart): the C API retries it once on a
  // fresh connection. Null: the error is final.
  static Napi::Value Start(Napi::Env env, const std::shared_ptr<ClientState> &state, int64_t high, int64_t low,
                           std::unique_ptr<Call> call, Napi::Object keep,
                           std::function<int64_t(ioc_client_t *)> retry = nullptr) {
    if (!state->client || IOC_FAILPOINT(addon_no_loop_calls)) return Napi::Value();
    ioc::client::Borrowed b = ioc::client::tryBorrowIdle(state->client, high, low);
    if (!b.conn) return Napi::Value();
    if (b.conn->waitFd() < 0) {
      ioc::client::giveBack(b);
      return Napi::Value();
    }
    auto *c = new LoopCall(env, state, b, std::move(call), keep);
    c->retry_ = std::move(retry);
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
  LoopCall(Napi::Env env, std::shared_ptr<ClientState> state, ioc::client::Borrowed b, std::unique_ptr<Call> call,
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
  // worker and its resource object too), so the scope covers the whole settlement.
  void settle(int64_t result, bool fromLoop) {
    ioc::client::giveBack(b_);
    {
      Napi::HandleScope scope(env_);
      if (result == -ECONNRESET && retry_ && state_->client) {
        auto *w = new CallWorker(env_, state_, std::move(retry_), deferred_);
        w->keepAlive(keep_.Value());
        w->Queue();
        state_->inflight--;
      } else {
        state_->inflight--;
        if (fromLoop) {
          Napi::AsyncContext context(env_, "iocatcher:call");
          Napi::CallbackScope callbackScope(env_, context);
          deferred_.Resolve(outcome(env_, result, reason_));
        } else {
          deferred_.Resolve(outcome(env_, result, reason_));
        }
        state_->maybeFree();
      }
    }
    delete this;
  }

  Napi::Env env_;
  std::shared_ptr<ClientState> state_;
  ioc::client::Borrowed b_;
  std::unique_ptr<Call> call_;
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference keep_;
  std::function<int64_t(ioc_client_t *)> retry_;
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
  static Napi::Value Start(Napi::Env, const std::shared_ptr<ClientState> &, int64_t, int64_t, std::unique_ptr<Call>,
                           Napi::Object, std::function<int64_t(ioc_client_t *)> = nullptr) {
    return Napi::Value();
  }
};
#endif

int64_t toI64(const Napi::Value &v) {
  if (v.IsBigInt()) {
    bool lossless;
    return v.As<Napi::BigInt>().Int64Value(&lossless);
  }
  return (int64_t)v.As<Napi::Number>().Int64Value();
}

uint64_t toU64(const Napi::Value &v) {
  if (v.IsBigInt()) {
    bool lossless;
    return v.As<Napi::BigInt>().Uint64Value(&lossless);
  }
  return (uint64_t)v.As<Napi::Number>().Int64Value();
}

// An object's stat as JavaScript sees it: ids as bigints, sizes as numbers (exact below 2^53).
// Stats cross into JavaScript packed, STAT_SLOTS 8-byte slots per entry: high and low as
// int64, then size, storedBytes, cachedBytes, dirtyBytes and stored (0/1) as doubles
// (src/client/stat-page.ts reads them). One buffer per page: building an object per entry
// through N-API costs several times what JavaScript pays for the same object.
constexpr size_t STAT_SLOTS = 7;

Napi::ArrayBuffer packStats(Napi::Env env, const ioc_obj_stat_t *s, size_t n) {
  Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, n * STAT_SLOTS * 8);
  char *p = static_cast<char *>(buf.Data());
  for (size_t i = 0; i < n; i++, p += STAT_SLOTS * 8) {
    double d[5] = {(double)s[i].size, (double)s[i].stored_bytes, (double)s[i].cached_bytes, (double)s[i].dirty_bytes,
                   s[i].stored ? 1.0 : 0.0};
    memcpy(p, &s[i].high, 8);
    memcpy(p + 8, &s[i].low, 8);
    memcpy(p + 16, d, sizeof d);
  }
  return buf;
}

// A listing (ioc_obj_list_t) held by JavaScript. Its pages are fetched on worker threads, one at
// a time (busy); closing it while a page is on its way frees it when that page is in. An open
// listing counts as a call in flight: the client stays until it is closed (or collected).
struct ListState {
  std::shared_ptr<ClientState> client;
  ioc_obj_list_t *cursor = nullptr;
  bool busy = false, closed = false;  // JavaScript thread only
  std::vector<ioc_obj_stat_t> page;   // the last page (worker thread while busy)
  void release() {
    if (!cursor) return;
    ioc_client_obj_list_close(cursor);
    cursor = nullptr;
    client->inflight--;
    client->maybeFree();
  }
  ~ListState() { release(); }
};
using ListRef = std::shared_ptr<ListState>;

class ClientHandle : public Napi::ObjectWrap<ClientHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeClientHandle",
                       {
                           InstanceMethod("read", &ClientHandle::Read),
                           InstanceMethod("write", &ClientHandle::Write),
                           InstanceMethod("flush", &ClientHandle::Flush),
                           InstanceMethod("create", &ClientHandle::Create),
                           InstanceMethod("cow", &ClientHandle::Cow),
                           InstanceMethod("registerRange", &ClientHandle::RegisterRange),
                           InstanceMethod("unregisterRange", &ClientHandle::UnregisterRange),
                           InstanceMethod("ping", &ClientHandle::Ping),
                           InstanceMethod("serverEpoch", &ClientHandle::ServerEpoch),
                           InstanceMethod("stat", &ClientHandle::Stat),
                           InstanceMethod("delete", &ClientHandle::Delete),
                           InstanceMethod("listOpen", &ClientHandle::ListOpen),
                           InstanceMethod("listNext", &ClientHandle::ListNext),
                           InstanceMethod("listClose", &ClientHandle::ListClose),
                           InstanceMethod("providerName", &ClientHandle::ProviderName),
                           InstanceMethod("setPassiveWait", &ClientHandle::SetPassiveWait),
                           InstanceMethod("setTimeout", &ClientHandle::SetTimeout),
                           InstanceMethod("servers", &ClientHandle::Servers),
                           InstanceMethod("serverOf", &ClientHandle::ServerOf),
                           InstanceMethod("close", &ClientHandle::Close),
                       });
  }

  ClientHandle(const Napi::CallbackInfo &info) : Napi::ObjectWrap<ClientHandle>(info) {
    state_ = std::make_shared<ClientState>();
    state_->client = static_cast<ioc_client_t *>(info[0].As<Napi::External<ioc_client_t>>().Data());
  }
  ~ClientHandle() override {
    state_->closed = true;
    state_->maybeFree();
  }

 private:
  Napi::Value run(const Napi::CallbackInfo &info, std::function<int64_t(ioc_client_t *)> fn,
                  Napi::Value keep = Napi::Value()) {
    auto *w = new CallWorker(info.Env(), state_, std::move(fn));
    if (!keep.IsEmpty()) w->keepAlive(keep);
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  }

  // read(high, low, offset, target: Uint8Array)
  Napi::Value Read(const Napi::CallbackInfo &info) {
    int64_t high = toI64(info[0]), low = toI64(info[1]);
    uint64_t offset = toU64(info[2]);
    auto arr = info[3].As<Napi::Uint8Array>();
    uint8_t *data = arr.Data();
    size_t len = arr.ByteLength();
    auto viaPool = [=](ioc_client_t *c) { return (int64_t)ioc_client_obj_read(c, high, low, data, len, offset); };
    if (len <= ioc::proto::EAGER_MAX) {
      Napi::Value fast = LoopCall<ioc::client::ReadWriteCall>::Start(
          info.Env(), state_, high, low, std::make_unique<ioc::client::ReadWriteCall>(high, low, data, len, offset, false), arr,
          viaPool);
      if (!fast.IsEmpty()) return fast;
    }
    return run(info, viaPool, arr);
  }
  Napi::Value Write(const Napi::CallbackInfo &info) {
    int64_t high = toI64(info[0]), low = toI64(info[1]);
    uint64_t offset = toU64(info[2]);
    auto arr = info[3].As<Napi::Uint8Array>();
    const uint8_t *data = arr.Data();
    size_t len = arr.ByteLength();
    auto viaPool = [=](ioc_client_t *c) { return (int64_t)ioc_client_obj_write(c, high, low, data, len, offset); };
    if (len <= ioc::proto::EAGER_MAX) {
      Napi::Value fast = LoopCall<ioc::client::ReadWriteCall>::Start(
          info.Env(), state_, high, low,
          std::make_unique<ioc::client::ReadWriteCall>(high, low, const_cast<uint8_t *>(data), len, offset, true), arr,
          viaPool);
      if (!fast.IsEmpty()) return fast;
    }
    return run(info, viaPool, arr);
  }
  Napi::Value Flush(const Napi::CallbackInfo &info) {
    int64_t high = toI64(info[0]), low = toI64(info[1]);
    uint64_t offset = toU64(info[2]), size = toU64(info[3]);
    return run(info, [=](ioc_client_t *c) { return (int64_t)ioc_client_obj_flush(c, high, low, offset, size); });
  }
  Napi::Value Create(const Napi::CallbackInfo &info) {
    int64_t high = toI64(info[0]), low = toI64(info[1]);
    return run(info, [=](ioc_client_t *c) { return (int64_t)ioc_client_obj_create(c, high, low); });
  }
  Napi::Value Cow(const Napi::CallbackInfo &info) {
    int64_t sh = toI64(info[0]), sl = toI64(info[1]), dh = toI64(info[2]), dl = toI64(info[3]);
    bool allow = info[4].ToBoolean();
    uint64_t offset = toU64(info[5]), size = toU64(info[6]);
    return run(info, [=](ioc_client_t *c) { return (int64_t)ioc_client_obj_cow(c, sh, sl, dh, dl, allow, offset, size); });
  }
  Napi::Value RegisterRange(const Napi::CallbackInfo &info) {
    int64_t high = toI64(info[0]), low = toI64(info[1]);
    uint64_t offset = toU64(info[2]), size = toU64(info[3]);
    bool write = info[4].ToBoolean();
    return run(info, [=](ioc_client_t *c) {
      return (int64_t)ioc_client_obj_range_register(c, high, low, offset, size, write);
    });
  }
  Napi::Value UnregisterRange(const Napi::CallbackInfo &info) {
    int32_t id = info[0].As<Napi::Number>().Int32Value();
    int64_t high = toI64(info[1]), low = toI64(info[2]);
    uint64_t offset = toU64(info[3]), size = toU64(info[4]);
    bool write = info[5].ToBoolean();
    return run(info, [=](ioc_client_t *c) {
      return (int64_t)ioc_client_obj_range_unregister(c, id, high, low, offset, size, write);
    });
  }
  Napi::Value Ping(const Napi::CallbackInfo &info) {
    size_t eager = (size_t)toU64(info[0]);
    size_t rdma = info.Length() > 1 ? (size_t)toU64(info[1]) : 0;
    auto viaPool = [=](ioc_client_t *c) { return (int64_t)ioc_client_ping_rounds(c, 1, eager, rdma); };
    // With one server and no RMA part (no buffer to register), the ping can run on the event
    // loop; with several, every server answers.
    if (state_->client && rdma == 0 && ioc_client_server_count(state_->client) == 1 && eager <= ioc::proto::EAGER_MAX) {
      Napi::Value fast = LoopCall<ioc::client::PingCall>::Start(info.Env(), state_, 0, 0,
                                                                 std::make_unique<ioc::client::PingCall>(eager),
                                                                 Napi::Object::New(info.Env()), viaPool);
      if (!fast.IsEmpty()) return fast;
    }
    return run(info, viaPool);
  }
  // stat(high, low) -> the object's stat (packed), or a failure (ENOENT: no such object).
  Napi::Value Stat(const Napi::CallbackInfo &info) {
    int64_t high = toI64(info[0]), low = toI64(info[1]);
    auto out = std::make_shared<ioc_obj_stat_t>();
    auto *w = new CallWorker(info.Env(), state_, [=](ioc_client_t *c) {
      return (int64_t)ioc_client_obj_stat(c, high, low, out.get());
    });
    w->onSuccess([out](Napi::Env env) { return packStats(env, out.get(), 1); });
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  }
  Napi::Value Delete(const Napi::CallbackInfo &info) {
    int64_t high = toI64(info[0]), low = toI64(info[1]);
    return run(info, [=](ioc_client_t *c) { return (int64_t)ioc_client_obj_delete(c, high, low); });
  }
  // listOpen(filterHigh, high) -> a listing handle (nothing is sent yet).
  Napi::Value ListOpen(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!state_->client || state_->closed) return Napi::Number::New(env, -EBADF);
    ioc_obj_list_t *cursor = ioc_client_obj_list_open(state_->client, info[0].ToBoolean(), toI64(info[1]));
    if (!cursor) return Napi::Number::New(env, -(errno ? errno : ENOMEM));
    auto *ref = new ListRef(std::make_shared<ListState>());
    (*ref)->client = state_;
    (*ref)->cursor = cursor;
    state_->inflight++;
    return Napi::External<ListRef>::New(env, ref, [](Napi::Env, ListRef *r) { delete r; });
  }
  // listNext(listing, max) -> up to max stats packed (none: the listing is complete), or a failure.
  Napi::Value ListNext(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    ListRef list = *info[0].As<Napi::External<ListRef>>().Data();
    size_t max = (size_t)toU64(info[1]);
    if (list->busy) throw Napi::Error::New(env, "listNext: a page of this listing is already on its way");
    if (!list->cursor || max == 0) {
      auto d = Napi::Promise::Deferred::New(env);
      d.Resolve(Napi::Number::New(env, list->cursor ? -EINVAL : -EBADF));
      return d.Promise();
    }
    list->busy = true;
    auto *w = new CallWorker(env, state_, [list, max](ioc_client_t *) -> int64_t {
      list->page.resize(max);
      ssize_t n = ioc_client_obj_list(list->cursor, list->page.data(), max);
      list->page.resize(n < 0 ? 0 : (size_t)n);
      return n;
    });
    w->onSuccess([list](Napi::Env e) {
      Napi::ArrayBuffer out = packStats(e, list->page.data(), list->page.size());
      list->page.clear();
      list->page.shrink_to_fit();
      return out;
    });
    w->onSettled([list] {
      list->busy = false;
      if (list->closed) list->release();
    });
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  }
  Napi::Value ListClose(const Napi::CallbackInfo &info) {
    ListRef list = *info[0].As<Napi::External<ListRef>>().Data();
    list->closed = true;
    if (!list->busy) list->release();
    return info.Env().Undefined();
  }
  Napi::Value ProviderName(const Napi::CallbackInfo &info) {
    const char *name = state_->client ? ioc_client_provider_name(state_->client) : "";
    return Napi::String::New(info.Env(), name ? name : "");
  }
  Napi::Value SetPassiveWait(const Napi::CallbackInfo &info) {
    if (state_->client) ioc_client_set_passive_wait(state_->client, info[0].ToBoolean());
    return info.Env().Undefined();
  }
  Napi::Value SetTimeout(const Napi::CallbackInfo &info) {
    if (state_->client) ioc_client_set_timeout(state_->client, (unsigned)toU64(info[0]));
    return info.Env().Undefined();
  }
  // servers(): the "host:port" list; serverOf(high, low): index of the object's server.
  Napi::Value Servers(const Napi::CallbackInfo &info) {
    Napi::Array out = Napi::Array::New(info.Env());
    if (!state_->client) return out;
    int n = ioc_client_server_count(state_->client);
    for (int i = 0; i < n; i++) out.Set((uint32_t)i, Napi::String::New(info.Env(), ioc_client_server_name(state_->client, i)));
    return out;
  }
  Napi::Value ServerOf(const Napi::CallbackInfo &info) {
    if (!state_->client) return Napi::Number::New(info.Env(), -EBADF);
    return Napi::Number::New(info.Env(), ioc_client_server_of(state_->client, toI64(info[0]), toI64(info[1])));
  }
  // serverEpoch(high, low) -> {epoch: 16 hex digits ('0' x 16: unknown), durable}: the start
  // epoch of the object's server as its latest handshake said (ioc_client_server_epoch).
  Napi::Value ServerEpoch(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    int durable = 0;
    uint64_t epoch = state_->client ? ioc_client_server_epoch(state_->client, toI64(info[0]), toI64(info[1]), &durable) : 0;
    char text[17];
    snprintf(text, sizeof text, "%016llx", (unsigned long long)epoch);
    Napi::Object o = Napi::Object::New(env);
    o.Set("epoch", text);
    o.Set("durable", durable != 0);
    return o;
  }
  Napi::Value Close(const Napi::CallbackInfo &info) {
    state_->closed = true;
    state_->maybeFree();
    return info.Env().Undefined();
  }

  std::shared_ptr<ClientState> state_;
};

// connect(host, port) -> Promise<handle | negative errno>, the connection made off-thread.
class ConnectWorker : public Napi::AsyncWorker {
 public:
  ConnectWorker(Napi::Env env, std::string host, std::string port, Napi::FunctionReference *ctor)
      : Napi::AsyncWorker(env), host_(std::move(host)), port_(std::move(port)), ctor_(ctor),
        deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    client_ = ioc_client_init(host_.c_str(), port_.c_str());
    err_ = client_ ? 0 : (errno ? errno : ECONNREFUSED);
  }
  void OnOK() override {
    if (!client_) {
      deferred_.Resolve(Napi::Number::New(Env(), -err_));
      return;
    }
    deferred_.Resolve(ctor_->New({Napi::External<ioc_client_t>::New(Env(), client_)}));
  }

 private:
  std::string host_, port_;
  Napi::FunctionReference *ctor_;
  Napi::Promise::Deferred deferred_;
  ioc_client_t *client_ = nullptr;
  int err_ = 0;
};

}  // namespace

Napi::Object InitClientBinding(Napi::Env env, Napi::Object exports) {
  // Per-environment constructor (worker threads each get their own).
  auto *ctor = new Napi::FunctionReference(Napi::Persistent(ClientHandle::Define(env)));
  env.AddCleanupHook([ctor] { delete ctor; });
  exports.Set("clientConnect", Napi::Function::New(env, [ctor](const Napi::CallbackInfo &info) -> Napi::Value {
                auto *w = new ConnectWorker(info.Env(), info[0].As<Napi::String>(), info[1].As<Napi::String>(), ctor);
                Napi::Promise p = w->promise();
                w->Queue();
                return p;
              }));
  return exports;
}
