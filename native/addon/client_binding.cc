// clientConnect and the TypeScript client's native handle (typed in src/client/native-types.ts):
// each call runs the C client API on a pool thread (client_call.h), small reads, writes and pings
// on the event loop when they can (client_loop_call.h), so the event loop never blocks. A call
// resolves with its number (or its value: stats packed in a buffer) and rejects with an
// errno error (util/errors.h) whose .reason is the server's explanation when it gave one.
#include <errno.h>
#include <napi.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "addon/bindings.h"
#include "addon/client_call.h"
#include "addon/client_loop_call.h"
#include "addon/util/args.h"
#include "addon/util/env_cleanup.h"
#include "addon/util/errors.h"
#include "iocatcher-client.h"

namespace ioc {
namespace addon {
namespace {

constexpr napi_type_tag kClientTag = {0x696f632d636c6965ULL, 0x6e74000000000001ULL};
constexpr napi_type_tag kListTag = {0x696f632d6c697374ULL, 0x696e670000000001ULL};

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

// A listing (ioc_obj_list_t) held by JavaScript. Its pages are fetched on pool threads, one at
// a time (busy); closing it while a page is on its way frees it when that page is in. An open
// listing counts as a call in flight: the client stays until it is closed (or collected).
struct ListState {
  ClientRef client;
  ioc_obj_list_t *cursor = nullptr;
  bool busy = false, closed = false;  // JavaScript thread only
  std::vector<ioc_obj_stat_t> page;   // the last page (pool thread while busy)
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

ListRef &listOf(const Napi::Value &v) { return arg::external<ListRef>(v, kListTag, "list", "a listing handle (listOpen)"); }

// The handle's class, one per environment (worker threads each get their own).
struct ClientClass {
  Napi::FunctionReference constructor;
};

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

  // new NativeClientHandle(client): only clientConnect has such a client.
  ClientHandle(const Napi::CallbackInfo &info) : Napi::ObjectWrap<ClientHandle>(info) {
    state_ = std::make_shared<ClientState>();
    state_->client = &arg::external<ioc_client_t>(info[0], kClientTag, "client", "a connected client (clientConnect)");
  }
  ~ClientHandle() override {
    state_->closed = true;
    state_->maybeFree();
  }

 private:
  Napi::Value run(const Napi::CallbackInfo &info, const char *what, ClientFn fn, Napi::Value keep = Napi::Value()) {
    return startCall(info.Env(), state_, {what, std::move(fn), keep, nullptr, nullptr});
  }

  // read(high, low, offset, target: Uint8Array)
  Napi::Value Read(const Napi::CallbackInfo &info) {
    int64_t high = arg::int64(info, 0, "high"), low = arg::int64(info, 1, "low");
    uint64_t offset = arg::uint64(info, 2, "offset");
    Napi::Uint8Array arr = arg::bytes(info, 3, "target");
    uint8_t *data = arr.Data();
    size_t len = arr.ByteLength();
    ClientCall viaPool{"read", [=](ioc_client_t *c) { return (int64_t)ioc_client_obj_read(c, high, low, data, len, offset); }, arr,
                       nullptr, nullptr};
    if (len <= ioc::proto::EAGER_MAX) {
      Napi::Value fast = LoopCall<ioc::client::ReadWriteCall>::Start(
          info.Env(), state_, high, low, std::make_unique<ioc::client::ReadWriteCall>(high, low, data, len, offset, false), viaPool);
      if (!fast.IsEmpty()) return fast;
    }
    return startCall(info.Env(), state_, std::move(viaPool));
  }
  Napi::Value Write(const Napi::CallbackInfo &info) {
    int64_t high = arg::int64(info, 0, "high"), low = arg::int64(info, 1, "low");
    uint64_t offset = arg::uint64(info, 2, "offset");
    Napi::Uint8Array arr = arg::bytes(info, 3, "data");
    const uint8_t *data = arr.Data();
    size_t len = arr.ByteLength();
    ClientCall viaPool{"write", [=](ioc_client_t *c) { return (int64_t)ioc_client_obj_write(c, high, low, data, len, offset); },
                       arr, nullptr, nullptr};
    if (len <= ioc::proto::EAGER_MAX) {
      Napi::Value fast = LoopCall<ioc::client::ReadWriteCall>::Start(
          info.Env(), state_, high, low,
          std::make_unique<ioc::client::ReadWriteCall>(high, low, const_cast<uint8_t *>(data), len, offset, true), viaPool);
      if (!fast.IsEmpty()) return fast;
    }
    return startCall(info.Env(), state_, std::move(viaPool));
  }
  Napi::Value Flush(const Napi::CallbackInfo &info) {
    int64_t high = arg::int64(info, 0, "high"), low = arg::int64(info, 1, "low");
    uint64_t offset = arg::uint64(info, 2, "offset"), size = arg::uint64(info, 3, "size");
    return run(info, "flush", [=](ioc_client_t *c) { return (int64_t)ioc_client_obj_flush(c, high, low, offset, size); });
  }
  Napi::Value Create(const Napi::CallbackInfo &info) {
    int64_t high = arg::int64(info, 0, "high"), low = arg::int64(info, 1, "low");
    return run(info, "create", [=](ioc_client_t *c) { return (int64_t)ioc_client_obj_create(c, high, low); });
  }
  Napi::Value Cow(const Napi::CallbackInfo &info) {
    int64_t sh = arg::int64(info, 0, "srcHigh"), sl = arg::int64(info, 1, "srcLow");
    int64_t dh = arg::int64(info, 2, "dstHigh"), dl = arg::int64(info, 3, "dstLow");
    bool allow = arg::boolean(info, 4, "allowExist");
    uint64_t offset = arg::uint64(info, 5, "offset"), size = arg::uint64(info, 6, "size");
    return run(info, "cow", [=](ioc_client_t *c) { return (int64_t)ioc_client_obj_cow(c, sh, sl, dh, dl, allow, offset, size); });
  }
  Napi::Value RegisterRange(const Napi::CallbackInfo &info) {
    int64_t high = arg::int64(info, 0, "high"), low = arg::int64(info, 1, "low");
    uint64_t offset = arg::uint64(info, 2, "offset"), size = arg::uint64(info, 3, "size");
    bool write = arg::boolean(info, 4, "write");
    return run(info, "range register", [=](ioc_client_t *c) {
      return (int64_t)ioc_client_obj_range_register(c, high, low, offset, size, write);
    });
  }
  Napi::Value UnregisterRange(const Napi::CallbackInfo &info) {
    int32_t id = arg::int32(info, 0, "id");
    int64_t high = arg::int64(info, 1, "high"), low = arg::int64(info, 2, "low");
    uint64_t offset = arg::uint64(info, 3, "offset"), size = arg::uint64(info, 4, "size");
    bool write = arg::boolean(info, 5, "write");
    return run(info, "range unregister", [=](ioc_client_t *c) {
      return (int64_t)ioc_client_obj_range_unregister(c, id, high, low, offset, size, write);
    });
  }
  Napi::Value Ping(const Napi::CallbackInfo &info) {
    size_t eager = arg::size(info, 0, "eagerSize");
    size_t rdma = arg::given(info, 1) ? arg::size(info, 1, "rdmaSize") : 0;
    ClientCall viaPool{"ping", [=](ioc_client_t *c) { return (int64_t)ioc_client_ping_rounds(c, 1, eager, rdma); },
                       Napi::Object::New(info.Env()), nullptr, nullptr};
    // With one server and no RMA part (no buffer to register), the ping can run on the event
    // loop; with several, every server answers.
    if (state_->client && rdma == 0 && ioc_client_server_count(state_->client) == 1 && eager <= ioc::proto::EAGER_MAX) {
      Napi::Value fast = LoopCall<ioc::client::PingCall>::Start(info.Env(), state_, 0, 0,
                                                                 std::make_unique<ioc::client::PingCall>(eager), viaPool);
      if (!fast.IsEmpty()) return fast;
    }
    return startCall(info.Env(), state_, {"ping", std::move(viaPool.fn), Napi::Value(), nullptr, nullptr});
  }
  // stat(high, low) -> the object's stat (packed), or a failure (ENOENT: no such object).
  Napi::Value Stat(const Napi::CallbackInfo &info) {
    int64_t high = arg::int64(info, 0, "high"), low = arg::int64(info, 1, "low");
    auto out = std::make_shared<ioc_obj_stat_t>();
    auto pack = [out](Napi::Env env) { return packStats(env, out.get(), 1); };
    ClientCall viaPool{"stat", [=](ioc_client_t *c) { return (int64_t)ioc_client_obj_stat(c, high, low, out.get()); },
                       Napi::Value(), pack, nullptr};
    // On the event loop as a small read is (a server without the namespace: the pool path says so).
    auto call = std::make_unique<ioc::client::StatCall>(high, low);
    const ioc::proto::ObjectStat *got = &call->stat;  // lives as long as the loop call
    Napi::Value fast = LoopCall<ioc::client::StatCall>::Start(
        info.Env(), state_, high, low, std::move(call), viaPool, ioc::proto::FEATURE_NAMESPACE, [got, out, pack](Napi::Env env) {
          *out = {got->objectId.high, got->objectId.low, got->size, got->storedBytes, got->cachedBytes, got->dirtyBytes, got->stored};
          return pack(env);
        });
    if (!fast.IsEmpty()) return fast;
    return startCall(info.Env(), state_, std::move(viaPool));
  }
  Napi::Value Delete(const Napi::CallbackInfo &info) {
    int64_t high = arg::int64(info, 0, "high"), low = arg::int64(info, 1, "low");
    return run(info, "delete", [=](ioc_client_t *c) { return (int64_t)ioc_client_obj_delete(c, high, low); });
  }
  // listOpen(filterHigh, high) -> a listing handle (nothing is sent yet).
  Napi::Value ListOpen(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    bool filterHigh = arg::boolean(info, 0, "filterHigh");
    int64_t high = arg::int64(info, 1, "high");
    if (!state_->client || state_->closed) throw errnoError(env, EBADF, "listOpen: the client is closed");
    ioc_obj_list_t *cursor = ioc_client_obj_list_open(state_->client, filterHigh, high);
    if (!cursor) {
      int err = errno ? errno : ENOMEM;
      throw callError(env, "listOpen", -err, "");
    }
    auto list = std::make_shared<ListState>();
    list->client = state_;
    list->cursor = cursor;
    state_->inflight++;
    return arg::handle(env, new ListRef(list), kListTag);
  }
  // listNext(listing, max) -> up to max stats packed (none: the listing is complete), or a failure.
  Napi::Value ListNext(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    ListRef list = listOf(info[0]);
    size_t max = arg::size(info, 1, "max");
    if (max == 0) arg::throwRange(env, "max", ">= 1", "0");
    if (list->busy) throw errnoError(env, EBUSY, "listNext: a page of this listing is already on its way");
    if (!list->cursor) {
      auto d = Napi::Promise::Deferred::New(env);
      d.Reject(errnoError(env, EBADF, "listNext: the listing is closed").Value());
      return d.Promise();
    }
    list->busy = true;
    ClientCall call;
    call.what = "list";
    call.fn = [list, max](ioc_client_t *) -> int64_t {
      list->page.resize(max);
      ssize_t n = ioc_client_obj_list(list->cursor, list->page.data(), max);
      list->page.resize(n < 0 ? 0 : (size_t)n);
      return n;
    };
    call.onSuccess = [list](Napi::Env e) {
      Napi::ArrayBuffer out = packStats(e, list->page.data(), list->page.size());
      list->page.clear();
      list->page.shrink_to_fit();
      return out;
    };
    call.onSettled = [list] {
      list->busy = false;
      if (list->closed) list->release();
    };
    try {
      return startCall(env, state_, std::move(call));
    } catch (...) {
      list->busy = false;
      throw;
    }
  }
  Napi::Value ListClose(const Napi::CallbackInfo &info) {
    ListRef list = listOf(info[0]);
    list->closed = true;
    if (!list->busy) list->release();
    return info.Env().Undefined();
  }
  Napi::Value ProviderName(const Napi::CallbackInfo &info) {
    const char *name = state_->client ? ioc_client_provider_name(state_->client) : "";
    return Napi::String::New(info.Env(), name ? name : "");
  }
  Napi::Value SetPassiveWait(const Napi::CallbackInfo &info) {
    bool passive = arg::boolean(info, 0, "value");
    if (state_->client) ioc_client_set_passive_wait(state_->client, passive);
    return info.Env().Undefined();
  }
  Napi::Value SetTimeout(const Napi::CallbackInfo &info) {
    uint64_t ms = arg::uint64(info, 0, "ms");
    if (ms > UINT32_MAX) arg::throwRange(info.Env(), "ms", "at most 4294967295", std::to_string(ms));
    if (state_->client) ioc_client_set_timeout(state_->client, (unsigned)ms);
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
    int64_t high = arg::int64(info, 0, "high"), low = arg::int64(info, 1, "low");
    if (!state_->client) throw errnoError(info.Env(), EBADF, "serverOf: the client is closed");
    return Napi::Number::New(info.Env(), ioc_client_server_of(state_->client, high, low));
  }
  // serverEpoch(high, low) -> {epoch: 16 hex digits ('0' x 16: unknown), durable}: the start
  // epoch of the object's server as its latest handshake said (ioc_client_server_epoch).
  Napi::Value ServerEpoch(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    int64_t high = arg::int64(info, 0, "high"), low = arg::int64(info, 1, "low");
    int durable = 0;
    uint64_t epoch = state_->client ? ioc_client_server_epoch(state_->client, high, low, &durable) : 0;
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

  ClientRef state_;
};

// connect(host, port) -> Promise<handle>, the connection made on a pool thread; rejects with
// the connect errno (ECONNREFUSED when the client library gave none).
Napi::Value Connect(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string host = arg::string(info, 0, "host"), port = arg::string(info, 1, "port");
  AsyncCall call;
  call.work = [host, port]() -> JsValue {
    ioc_client_t *client = ioc_client_init(host.c_str(), port.c_str());
    if (!client) {
      int err = errno ? errno : ECONNREFUSED;
      throw ErrnoFailure(err, "connect to " + host + ":" + port);
    }
    return [client](Napi::Env e) -> Napi::Value {
      // Tagged, and without a finalizer: the handle owns the client from here.
      auto external = Napi::External<ioc_client_t>::New(e, client);
      arg::setTag(e, external, kClientTag);
      return perEnv<ClientClass>(e).constructor.New({external});
    };
  };
  return guarded(env, [&]() -> Napi::Value { return runAsync(env, clientPool(), std::move(call)); });
}

}  // namespace

void InitClientBinding(Napi::Env env, Napi::Object exports) {
  perEnv<ClientClass>(env).constructor = Napi::Persistent(ClientHandle::Define(env));
  exports.Set("clientConnect", Napi::Function::New(env, Connect, "clientConnect"));
}

}  // namespace addon
}  // namespace ioc
