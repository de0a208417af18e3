// umap*: JavaScript surface of ummap's mappings (native/uffd/mapping.h; typed in
// src/ummap/native-types.ts). Holds no per-isolate state beyond env_cleanup.h's, so every
// worker thread can load it; the userfaultfd contexts and the handler thread are process-wide.
#include <napi.h>
#include <stdio.h>
#include <string.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "addon/bindings.h"
#include "addon/policy_binding.h"
#include "addon/util/args.h"
#include "addon/util/async_work.h"
#include "addon/util/env_cleanup.h"
#include "addon/util/errors.h"
#include "uffd/mapping.h"
#include "uffd/notices.h"

// Node's own V8 header (the addon is always built against the Node that runs it): for mappings
// larger than N-API's external buffers allow.
#if __has_include(<v8.h>)
#include <v8.h>
#define UMMAP_HAVE_V8 1
#endif

namespace ioc {
namespace addon {
namespace {

using namespace ummap;

// Keeps a mapping alive while JavaScript holds its handle or its ArrayBuffer; when both are
// collected without unmap(), dirty data is still written back.
struct JsLease {
  explicit JsLease(std::shared_ptr<Mapping> m) : mapping(std::move(m)) {}
  JsLease(const JsLease&) = delete;
  std::shared_ptr<Mapping> mapping;
  ~JsLease() {
    try {
      mapping->unmap(true);
    } catch (...) {
    }
  }
};
using LeaseRef = std::shared_ptr<JsLease>;

constexpr napi_type_tag kMappingTag = {0x696f632d6d617070ULL, 0x696e670000000001ULL};

// Mappings created by one JS environment (main thread or a worker). When the environment is
// torn down (normal exit, worker termination) the ones still mapped are written back and
// released, even if their handles were never collected.
struct EnvMappings {
  std::vector<std::weak_ptr<Mapping>> mappings;
  ~EnvMappings() {
    for (auto& weak : mappings) {
      if (auto m = weak.lock()) {
        try {
          m->unmap(true);
        } catch (...) {
        }
      }
    }
  }
  void add(const std::shared_ptr<Mapping>& m) {
    // Drop entries of unmapped mappings now and then so the list tracks live ones.
    if (mappings.size() >= 64 && mappings.size() % 64 == 0) {
      std::vector<std::weak_ptr<Mapping>> live;
      for (auto& w : mappings)
        if (auto p = w.lock(); p && !p->closed()) live.push_back(w);
      mappings.swap(live);
    }
    mappings.push_back(m);
  }
};

// The asynchronous exports' threads. No limit: a call may wait for an earlier one of its mapping
// (write-backs take turns), which must never be queued behind it; idle threads end.
WorkerPool& asyncPool() {
  static WorkerPool* pool = [] {
    WorkerPool::Options o;
    o.threadName = "ummap-writeback";
    o.idleTimeout = std::chrono::seconds(10);
    o.retireIdle = true;
    return new WorkerPool(o);
  }();
  return *pool;
}

const LeaseRef& leaseOf(const Napi::Value& v) { return arg::external<LeaseRef>(v, kMappingTag, "handle", "a mapping handle"); }
std::shared_ptr<Mapping> mappingOf(const Napi::Value& v) { return leaseOf(v)->mapping; }

// Driver parameters: an object of strings.
DriverParams paramsOf(const Napi::Value& v, const char* name) {
  Napi::Object o = arg::object(v, name);
  DriverParams params;
  Napi::Array keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); i++) {
    std::string key = keys.Get(i).ToString();
    params[key] = arg::string(o.Get(key), (std::string(name) + "." + key).c_str());
  }
  return params;
}

// The ArrayBuffer over the mapping's memory holds a lease until it is collected or detached.
// Node 20 builds external ArrayBuffers as Buffers, limited to 4 GiB: a larger one fails, and on
// that path Node runs the finalizer and node-addon-api frees the finalizer data again (double
// free, abort). So larger mappings get a V8 backing store directly (V8 allows 2^53 bytes), and
// without V8's header they are refused before anything is created.
Napi::ArrayBuffer mappedArrayBuffer(Napi::Env env, const LeaseRef& lease) {
  Mapping& m = *lease->mapping;
  constexpr size_t kExternalBufferMax = size_t{1} << 32;  // Node 20's buffer.constants.MAX_LENGTH
  if (m.size() <= kExternalBufferMax)
    return Napi::ArrayBuffer::New(env, m.base(), m.size(), [](Napi::Env, void*, LeaseRef* l) { delete l; }, new LeaseRef(lease));
#ifdef UMMAP_HAVE_V8
  auto* hold = new LeaseRef(lease);
  // The deleter may run on any thread once the buffer is collected or detached: it only drops
  // the lease (a mapping is thread-safe).
  std::shared_ptr<v8::BackingStore> store = v8::ArrayBuffer::NewBackingStore(
      m.base(), m.size(), [](void*, size_t, void* data) { delete static_cast<LeaseRef*>(data); }, hold);
  v8::Local<v8::Value> value = v8::ArrayBuffer::New(v8::Isolate::GetCurrent(), std::move(store));
  // Node's N-API represents a napi_value as the address of a V8 handle (in the caller's scope).
  return Napi::ArrayBuffer(env, reinterpret_cast<napi_value>(*value));
#else
  throw std::system_error(EFBIG, std::generic_category(),
                          "mappings above 4 GiB need Node's V8 header at build time (this build has none)");
#endif
}

Napi::Value Support(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  UffdSupport s = uffdSupport();
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", s.available);
  o.Set("wpAsync", s.wpAsync);
  o.Set("kernelFaults", s.kernelFaults);
  o.Set("snapshotMoves", s.snapshotMoves);
  o.Set("openedWith", s.openedWith);
  o.Set("error", s.error);
  o.Set("defaultTracking", s.available && defaultTracking() == DirtyTracking::WpAsync ? "wp-async" : "wp-fault");
  return o;
}

// A mapping given no size maps the stored object from storageOffset to its end.
size_t sizeFromStore(StorageDriver& driver, uint64_t storageOffset) {
  std::string why;
  int64_t size = driver.objectSize(why);
  std::string what = driver.describe();
  if (size == -ENOENT)
    throw std::system_error(ENOENT, std::generic_category(), what + " does not exist: a new object needs a size");
  if (size == -ENOSYS && why.empty())
    throw std::system_error(EINVAL, std::generic_category(), what + " needs a size (its driver cannot tell one)");
  if (size < 0)
    throw std::system_error((int)-size, std::generic_category(),
                            what + " needs a size: its size could not be read (" + (why.empty() ? strerror((int)-size) : why) + ")");
  if ((uint64_t)size <= storageOffset)
    throw std::system_error(EINVAL, std::generic_category(),
                            what + " holds " + std::to_string(size) + " bytes: nothing to map from storage offset " +
                                std::to_string(storageOffset) + " (give a size)");
  return (size_t)(size - storageOffset);
}

// What create() and createAsync() make a mapping from: {scheme, params, size (0: the stored
// object's), segmentSize, storageOffset, readOnly, noFirstRead, tracking, readAheadMax, policy}.
struct CreateSpec {
  MappingOptions options;
  std::string scheme;
  DriverParams params;
};

CreateSpec createSpecOf(const Napi::Value& value) {
  Napi::Object spec = arg::object(value, "spec");
  // An optional field: its value, or undefined.
  auto field = [&](const char* key) { return spec.Get(key); };
  auto sizeField = [&](const char* key, const char* name, size_t fallback) {
    Napi::Value v = field(key);
    return v.IsUndefined() ? fallback : arg::size(v, name);
  };
  auto flagField = [&](const char* key, const char* name) {
    Napi::Value v = field(key);
    return !v.IsUndefined() && arg::boolean(v, name);
  };
  CreateSpec c;
  MappingOptions& o = c.options;
  c.scheme = arg::string(field("scheme"), "spec.scheme");
  c.params = paramsOf(field("params"), "spec.params");
  o.size = sizeField("size", "spec.size", 0);
  o.segmentSize = sizeField("segmentSize", "spec.segmentSize", 1 << 20);
  o.storageOffset = sizeField("storageOffset", "spec.storageOffset", 0);
  o.readOnly = flagField("readOnly", "spec.readOnly");
  o.noFirstRead = flagField("noFirstRead", "spec.noFirstRead");
  o.readAheadMax = sizeField("readAheadMax", "spec.readAheadMax", 16 << 20);
  Napi::Value tracking = field("tracking");
  if (tracking.IsUndefined()) {
    o.tracking = defaultTracking();
  } else {
    std::string t = arg::string(tracking, "spec.tracking");
    if (t != "wp-fault" && t != "wp-async") arg::throwType(value.Env(), "spec.tracking", "'wp-async' or 'wp-fault'", tracking);
    o.tracking = t == "wp-fault" ? DirtyTracking::WpFault : DirtyTracking::WpAsync;
  }
  Napi::Value policy = field("policy");
  if (!policy.IsUndefined()) o.policy = policyOf(policy, "spec.policy");
  if (o.readOnly) c.params["readOnly"] = "1";
  return c;
}

// The driver (its connection, for ioc) and the mapping: the slow part, on any thread.
std::shared_ptr<Mapping> makeMapping(CreateSpec c) {
  auto driver = createDriver(c.scheme, c.params);
  if (c.options.size == 0) c.options.size = sizeFromStore(*driver, c.options.storageOffset);
  return Mapping::create(std::move(driver), c.options);
}

// {handle, buffer, tracking, size} of a new mapping, on the JS thread.
Napi::Value wrapMapping(Napi::Env env, const std::shared_ptr<Mapping>& mapping) {
  perEnv<EnvMappings>(env).add(mapping);
  auto lease = std::make_shared<JsLease>(mapping);
  auto handle = arg::handle(env, new LeaseRef(lease), kMappingTag);
  // External memory: the ArrayBuffer can be detached by unmap() before the munmap.
  auto buffer = mappedArrayBuffer(env, lease);
  Napi::Object out = Napi::Object::New(env);
  out.Set("handle", handle);
  out.Set("buffer", buffer);
  out.Set("tracking", mapping->wpAsync() ? "wp-async" : "wp-fault");
  out.Set("size", Napi::Number::New(env, (double)mapping->size()));
  return out;
}

// Runs work on the pool: the promise resolves with undefined, or rejects with its errno error.
Napi::Promise offThread(Napi::Env env, std::function<void()> work) {
  return runAsync(env, asyncPool(), {[work = std::move(work)]() -> JsValue {
                                       work();
                                       return nullptr;
                                     },
                                     Napi::Value(), nullptr});
}

// create(spec) -> {handle, buffer, tracking, size}
Napi::Value Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CreateSpec spec = createSpecOf(info[0]);
  return guarded(env, [&]() -> Napi::Value { return wrapMapping(env, makeMapping(spec)); });
}

// createAsync(spec): create() with the driver's connection and the mapping's setup on a pool thread.
Napi::Value CreateAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CreateSpec spec = createSpecOf(info[0]);
  return guarded(env, [&]() -> Napi::Value {
    return runAsync(env, asyncPool(), {[spec]() -> JsValue {
                                         std::shared_ptr<Mapping> mapping = makeMapping(spec);
                                         return [mapping](Napi::Env e) { return wrapMapping(e, mapping); };
                                       },
                                       Napi::Value(), nullptr});
  });
}

// flush(handle, offset, length, syncDriver, evict)
Napi::Value Flush(const Napi::CallbackInfo& info) {
  auto m = mappingOf(info[0]);
  size_t offset = arg::size(info, 1, "offset"), length = arg::size(info, 2, "length");
  bool syncDriver = arg::boolean(info, 3, "syncDriver"), evict = arg::boolean(info, 4, "evict");
  return guarded(info.Env(), [&]() -> Napi::Value {
    m->flush(offset, length, syncDriver, evict);
    return info.Env().Undefined();
  });
}

// The mapping's own ArrayBuffer (the one given, if it is over its memory), detached.
void detachBuffer(const Napi::Value& v, const Mapping& m) {
  if (v.IsUndefined() || v.IsNull()) return;
  Napi::ArrayBuffer buffer = arg::arrayBuffer(v, "buffer");
  if (buffer.Data() == m.base() && !m.closed()) buffer.Detach();
}

// unmap(handle, buffer, sync): write back first (the buffer stays usable if that fails), then
// detach the ArrayBuffer, then munmap: JavaScript never sees a dangling pointer.
Napi::Value Unmap(const Napi::CallbackInfo& info) {
  auto m = mappingOf(info[0]);
  if (!info[1].IsUndefined() && !info[1].IsNull()) arg::arrayBuffer(info[1], "buffer");
  bool sync = arg::boolean(info, 2, "sync");
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (m->closed()) return info.Env().Undefined();
    if (sync) m->flush(0, m->size(), true, false);
    detachBuffer(info[1], *m);
    m->unmap(false);
    return info.Env().Undefined();
  });
}

// flushAsync(handle, offset, length, syncDriver, evict) -> Promise<void>. The dirty pages are
// copied now (the caller's thread); the copy is written on a pool thread.
Napi::Value FlushAsync(const Napi::CallbackInfo& info) {
  auto m = mappingOf(info[0]);
  size_t offset = arg::size(info, 1, "offset"), length = arg::size(info, 2, "length");
  bool syncDriver = arg::boolean(info, 3, "syncDriver"), evict = arg::boolean(info, 4, "evict");
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto job = m->snapshotWriteBack(offset, length, syncDriver, evict);
    return offThread(info.Env(), [m, job] { m->runWriteBack(*job); });
  });
}

// unmapAsync(handle, buffer, sync) -> Promise<void>: the buffer is detached now (nothing writes
// after the call), the write-back and munmap run on a pool thread. If the write-back fails the
// mapping stays open: umapBuffer gives its memory back to JavaScript.
Napi::Value UnmapAsync(const Napi::CallbackInfo& info) {
  auto m = mappingOf(info[0]);
  bool sync = arg::boolean(info, 2, "sync");
  return guarded(info.Env(), [&]() -> Napi::Value {
    detachBuffer(info[1], *m);
    return offThread(info.Env(), [m, sync] { m->unmap(sync); });
  });
}

// buffer(handle) -> a new ArrayBuffer over the mapping's memory (after a failed unmapAsync).
Napi::Value Buffer(const Napi::CallbackInfo& info) {
  const LeaseRef& lease = leaseOf(info[0]);
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (lease->mapping->closed()) throw std::system_error(EBADF, std::generic_category(), "mapping is unmapped");
    return mappedArrayBuffer(info.Env(), lease);
  });
}

// switchTo(handle, scheme, params, copyFirst, allowExist)
Napi::Value SwitchTo(const Napi::CallbackInfo& info) {
  auto m = mappingOf(info[0]);
  std::string scheme = arg::string(info, 1, "scheme");
  DriverParams params = paramsOf(info[2], "params");
  bool copyFirst = arg::boolean(info, 3, "copyFirst"), allowExist = arg::boolean(info, 4, "allowExist");
  return guarded(info.Env(), [&]() -> Napi::Value {
    m->switchDriver(createDriver(scheme, params), copyFirst, allowExist);
    return info.Env().Undefined();
  });
}

// (handle, scheme, params) -> Promise<void>: act(mapping, the target's driver) on a pool thread.
template <class Act>
Napi::Value withTargetOffThread(const Napi::CallbackInfo& info, Act act) {
  auto m = mappingOf(info[0]);
  std::string scheme = arg::string(info, 1, "scheme");
  DriverParams params = paramsOf(info[2], "params");
  return guarded(info.Env(), [&]() -> Napi::Value {
    return offThread(info.Env(), [m, scheme, params, act] { act(*m, createDriver(scheme, params)); });
  });
}

// stageAsync(handle, scheme, params) -> Promise<void>: in the mapping's turn, a server-side copy
// of its store to the target (Mapping::stage).
Napi::Value StageAsync(const Napi::CallbackInfo& info) {
  return withTargetOffThread(info, [](Mapping& m, std::shared_ptr<StorageDriver> to) { m.stage(std::move(to)); });
}

// checkpointAsync(handle, scheme, params, syncDriver) -> Promise<{epoch, bytes}>: the dirty
// pages are taken now (the caller's thread); on a pool thread the target becomes a copy of the
// store, the mapping moves to it and the pages go there (Mapping::runCheckpoint). epoch: the
// server's volatile epoch in 16 hex digits ('0000000000000000': durable), bytes: sent.
Napi::Value CheckpointAsync(const Napi::CallbackInfo& info) {
  auto m = mappingOf(info[0]);
  std::string scheme = arg::string(info, 1, "scheme");
  DriverParams params = paramsOf(info[2], "params");
  bool syncDriver = arg::boolean(info, 3, "syncDriver");
  return guarded(info.Env(), [&]() -> Napi::Value {
    // The target's driver first (a mapping of the same server shares its client: no connect
    // here), then the snapshot: from there the job holds the mapping's turn until it runs.
    std::shared_ptr<StorageDriver> dest = createDriver(scheme, params);
    auto job = m->snapshotWriteBack(0, m->size(), syncDriver, false);
    return runAsync(info.Env(), asyncPool(),
                    {[m, job, dest]() -> JsValue {
                       Mapping::CheckpointResult r = m->runCheckpoint(*job, dest);
                       char epoch[17];
                       snprintf(epoch, sizeof epoch, "%016llx", (unsigned long long)r.epoch);
                       std::string epochText = epoch;
                       double bytes = double(r.bytesWritten);
                       return [epochText, bytes](Napi::Env env) -> Napi::Value {
                         Napi::Object o = Napi::Object::New(env);
                         o.Set("epoch", epochText);
                         o.Set("bytes", bytes);
                         return o;
                       };
                     },
                     Napi::Value(), nullptr});
  });
}

// discardOnRelease(handle): releases never write back again (Mapping::discardOnRelease).
Napi::Value DiscardOnRelease(const Napi::CallbackInfo& info) {
  mappingOf(info[0])->discardOnRelease();
  return info.Env().Undefined();
}

// reloadAsync(handle, scheme, params) -> Promise<void>: re-point to the target and drop every
// loaded page unwritten (Mapping::reload).
Napi::Value ReloadAsync(const Napi::CallbackInfo& info) {
  return withTargetOffThread(info, [](Mapping& m, std::shared_ptr<StorageDriver> to) { m.reload(std::move(to)); });
}

// takeNotices() -> [{code, message}]: the runtime's events since the last call (notices.h).
Napi::Value TakeNotices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<Notice> notices = takeNotices();
  Napi::Array out = Napi::Array::New(env, notices.size());
  for (size_t i = 0; i < notices.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("code", notices[i].code);
    o.Set("message", notices[i].message);
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MappingStats s = mappingOf(info[0])->stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("faults", double(s.faults));
  o.Set("writeFaults", double(s.writeFaults));
  o.Set("segmentsLoaded", double(s.segmentsLoaded));
  o.Set("readAheadSegments", double(s.readAheadSegments));
  o.Set("bytesRead", double(s.bytesRead));
  o.Set("bytesWritten", double(s.bytesWritten));
  o.Set("writeBacks", double(s.writeBacks));
  o.Set("evictions", double(s.evictions));
  o.Set("driverSyncs", double(s.driverSyncs));
  o.Set("ioErrors", double(s.ioErrors));
  o.Set("residentBytes", double(s.residentBytes));
  o.Set("snapshotMovedBytes", double(s.snapshotMovedBytes));
  o.Set("snapshotCopiedBytes", double(s.snapshotCopiedBytes));
  return o;
}

Napi::Value DropMemStore(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), dropMemStore(arg::string(info, 0, "name")));
}

}  // namespace

void InitMappingBinding(Napi::Env env, Napi::Object exports) {
  exports.Set("umapSupport", Napi::Function::New(env, Support, "umapSupport"));
  exports.Set("umapCreate", Napi::Function::New(env, Create, "umapCreate"));
  exports.Set("umapCreateAsync", Napi::Function::New(env, CreateAsync, "umapCreateAsync"));
  exports.Set("umapFlush", Napi::Function::New(env, Flush, "umapFlush"));
  exports.Set("umapUnmap", Napi::Function::New(env, Unmap, "umapUnmap"));
  exports.Set("umapFlushAsync", Napi::Function::New(env, FlushAsync, "umapFlushAsync"));
  exports.Set("umapUnmapAsync", Napi::Function::New(env, UnmapAsync, "umapUnmapAsync"));
  exports.Set("umapBuffer", Napi::Function::New(env, Buffer, "umapBuffer"));
  exports.Set("umapSwitch", Napi::Function::New(env, SwitchTo, "umapSwitch"));
  exports.Set("umapStats", Napi::Function::New(env, Stats, "umapStats"));
  exports.Set("umapTakeNotices", Napi::Function::New(env, TakeNotices, "umapTakeNotices"));
  exports.Set("umapStageAsync", Napi::Function::New(env, StageAsync, "umapStageAsync"));
  exports.Set("umapCheckpointAsync", Napi::Function::New(env, CheckpointAsync, "umapCheckpointAsync"));
  exports.Set("umapReloadAsync", Napi::Function::New(env, ReloadAsync, "umapReloadAsync"));
  exports.Set("umapDiscardOnRelease", Napi::Function::New(env, DiscardOnRelease, "umapDiscardOnRelease"));
  exports.Set("umapDropMemStore", Napi::Function::New(env, DropMemStore, "umapDropMemStore"));
}

}  // namespace addon
}  // namespace ioc
