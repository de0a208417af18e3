// ummap half of the addon: JavaScript surface of the userfaultfd runtime (typed in
// src/ummap/native-types.ts). Holds no per-isolate state, so every worker thread can load it;
// the userfaultfd contexts and the handler thread are process-wide.
#include <fcntl.h>
#include <napi.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "common/thread_name.h"
#include "eviction_policy.h"
#include "mapping.h"
#include "read_ahead.h"
#include "test_gate.h"
#include "uffd_abi.h"

// Node's own V8 header (the addon is always built against the Node that runs it): for mappings
// larger than N-API's external buffers allow.
#if __has_include(<v8.h>)
#include <v8.h>
#define UMMAP_HAVE_V8 1
#endif

using namespace ummap;

namespace {

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

// Kept outside the module's instance data, which the client half of the addon may use.
std::mutex envMutex;
std::map<napi_env, EnvMappings*> envLists;

EnvMappings& envMappings(Napi::Env env) {
  std::lock_guard<std::mutex> lock(envMutex);
  EnvMappings*& list = envLists[env];
  if (!list) {
    list = new EnvMappings();
    napi_add_env_cleanup_hook(
        env,
        [](void* arg) {
          auto* key = static_cast<napi_env>(arg);
          EnvMappings* done;
          {
            std::lock_guard<std::mutex> lock(envMutex);
            done = envLists[key];
            envLists.erase(key);
          }
          delete done;  // writes back and releases what is still mapped
        },
        static_cast<napi_env>(env));
  }
  return *list;
}

using PolicyRef = std::shared_ptr<EvictionPolicy>;

// The mapping's memory as an ArrayBuffer that holds a lease until it is collected or detached.
// Node 20 builds external ArrayBuffers as Buffers, limited to 4 GiB: a larger one fails, and on
// that path Node runs the finalizer and node-addon-api frees the finalizer data again (double
// free, abort). So larger mappings get a V8 backing store directly (V8 allows 2^53 bytes), and
// without V8's header they are refused before anything is created.
Napi::ArrayBuffer mappedArrayBuffer(Napi::Env env, const std::shared_ptr<JsLease>& lease);

Napi::Error errnoError(Napi::Env env, int err, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  const char* name = strerrorname_np(err);
  e.Set("code", Napi::String::New(env, name ? name : "EIO"));
  e.Set("errno", Napi::Number::New(env, -err));
  return e;
}

// Run body, turning C++ exceptions into JS errors carrying an errno-style code.
template <typename F>
Napi::Value guarded(Napi::Env env, F&& body) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::system_error& e) {
    throw errnoError(env, e.code().value(), e.what());
  } catch (const std::invalid_argument& e) {
    throw errnoError(env, EINVAL, e.what());
  } catch (const std::out_of_range& e) {
    throw errnoError(env, EINVAL, e.what());
  } catch (const std::bad_alloc&) {
    throw errnoError(env, ENOMEM, "out of memory");
  }
}

std::shared_ptr<Mapping> mappingOf(const Napi::Value& v) {
  if (!v.IsExternal()) throw std::invalid_argument("not a mapping handle");
  return v.As<Napi::External<LeaseRef>>().Data()->get()->mapping;
}

double num(const Napi::Object& o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
}

bool flag(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() && v.As<Napi::Boolean>().Value();
}

DriverParams paramsOf(const Napi::Value& v) {
  DriverParams params;
  if (!v.IsObject()) return params;
  Napi::Object o = v.As<Napi::Object>();
  Napi::Array keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); i++) {
    std::string key = keys.Get(i).ToString();
    params[key] = o.Get(key).ToString();
  }
  return params;
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

// create({scheme, params, size (0: the stored object's), segmentSize, storageOffset, readOnly, noFirstRead, tracking,
//         readAheadMax, policy}) -> {handle, buffer, tracking}
Napi::Value Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    Napi::Object spec = info[0].As<Napi::Object>();
    MappingOptions o;
    o.size = static_cast<size_t>(num(spec, "size", 0));
    o.segmentSize = static_cast<size_t>(num(spec, "segmentSize", 1 << 20));
    o.storageOffset = static_cast<uint64_t>(num(spec, "storageOffset", 0));
    o.readOnly = flag(spec, "readOnly");
    o.noFirstRead = flag(spec, "noFirstRead");
    o.readAheadMax = static_cast<size_t>(num(spec, "readAheadMax", 16 << 20));
    Napi::Value tracking = spec.Get("tracking");
    if (tracking.IsString()) {
      std::string t = tracking.As<Napi::String>();
      o.tracking = t == "wp-fault" ? DirtyTracking::WpFault : DirtyTracking::WpAsync;
    } else {
      o.tracking = defaultTracking();
    }
    Napi::Value policy = spec.Get("policy");
    if (policy.IsExternal()) o.policy = *policy.As<Napi::External<PolicyRef>>().Data();
    DriverParams params = paramsOf(spec.Get("params"));
    if (o.readOnly) params["readOnly"] = "1";
    auto driver = createDriver(spec.Get("scheme").ToString(), params);
    if (o.size == 0) o.size = sizeFromStore(*driver, o.storageOffset);
    auto mapping = Mapping::create(std::move(driver), o);
    envMappings(env).add(mapping);

    auto lease = std::make_shared<JsLease>(mapping);
    auto handle = Napi::External<LeaseRef>::New(env, new LeaseRef(lease), [](Napi::Env, LeaseRef* l) { delete l; });
    // External memory: the ArrayBuffer can be detached by unmap() before the munmap.
    auto buffer = mappedArrayBuffer(env, lease);
    Napi::Object out = Napi::Object::New(env);
    out.Set("handle", handle);
    out.Set("buffer", buffer);
    out.Set("tracking", mapping->wpAsync() ? "wp-async" : "wp-fault");
    out.Set("size", Napi::Number::New(env, (double)mapping->size()));
    return out;
  });
}

Napi::ArrayBuffer mappedArrayBuffer(Napi::Env env, const std::shared_ptr<JsLease>& lease) {
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

// flush(handle, offset, length, syncDriver, evict)
Napi::Value Flush(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto m = mappingOf(info[0]);
    m->flush(static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue()), static_cast<size_t>(info[2].As<Napi::Number>().DoubleValue()),
             info[3].ToBoolean(), info[4].ToBoolean());
    return info.Env().Undefined();
  });
}

// unmap(handle, buffer, sync): write back first (the buffer stays usable if that fails), then
// detach the ArrayBuffer, then munmap: JavaScript never sees a dangling pointer.
Napi::Value Unmap(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto m = mappingOf(info[0]);
    if (m->closed()) return info.Env().Undefined();
    bool sync = info[2].ToBoolean();
    if (sync) m->flush(0, m->size(), true, false);
    if (info[1].IsArrayBuffer()) {
      Napi::ArrayBuffer buffer = info[1].As<Napi::ArrayBuffer>();
      if (buffer.Data() == m->base()) buffer.Detach();
    }
    m->unmap(false);
    return info.Env().Undefined();
  });
}

// How an asynchronous call ended, carried from its thread to the JS thread.
struct Outcome {
  Napi::Promise::Deferred deferred;
  int error = 0;  // errno
  std::string message;
};

void settle(Napi::Env env, Napi::Function, std::nullptr_t*, Outcome* outcome) {
  std::unique_ptr<Outcome> done(outcome);
  if (!env) return;  // the environment is going away: nobody waits for the promise
  Napi::HandleScope scope(env);
  if (done->error) done->deferred.Reject(errnoError(env, done->error, done->message).Value());
  else done->deferred.Resolve(env.Undefined());
}
using SettleFunction = Napi::TypedThreadSafeFunction<std::nullptr_t, Outcome, settle>;

// Run work on its own thread and settle the returned promise on the JS thread. A thread per
// call rather than the libuv pool: the work may wait for earlier write-backs of the mapping, and
// it must run even if the environment is torn down meanwhile (the teardown's unmap waits for it).
Napi::Value runOffThread(Napi::Env env, std::function<void()> work) {
  auto* outcome = new Outcome{Napi::Promise::Deferred::New(env), 0, {}};
  Napi::Promise promise = outcome->deferred.Promise();
  SettleFunction settleFn = SettleFunction::New(env, "ummapWriteBack", 0, 1);
  auto body = [work = std::move(work), outcome, settleFn]() mutable {
    ioc::nameThisThread("ummap-writeback");
    try {
      work();
    } catch (const std::system_error& e) {
      outcome->error = e.code().value();
      outcome->message = e.what();
    } catch (const std::exception& e) {
      outcome->error = EIO;
      outcome->message = e.what();
    }
    if (settleFn.BlockingCall(outcome) != napi_ok) delete outcome;
    settleFn.Release();
  };
  try {
    std::thread(body).detach();  // a copy: body stays callable if no thread can be had
  } catch (const std::system_error&) {
    body();  // then do it here rather than never
  }
  return promise;
}

// flushAsync(handle, offset, length, syncDriver, evict) -> Promise<void>. The dirty pages are
// copied now (the caller's thread); the copy is written on another thread.
Napi::Value FlushAsync(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto m = mappingOf(info[0]);
    auto job = m->snapshotWriteBack(static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue()),
                                    static_cast<size_t>(info[2].As<Napi::Number>().DoubleValue()), info[3].ToBoolean(),
                                    info[4].ToBoolean());
    return runOffThread(info.Env(), [m, job] { m->runWriteBack(*job); });
  });
}

// unmapAsync(handle, buffer, sync) -> Promise<void>: the buffer is detached now (nothing writes
// after the call), the write-back and munmap run on another thread. If the write-back fails the
// mapping stays open: umapBuffer gives its memory back to JavaScript.
Napi::Value UnmapAsync(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto m = mappingOf(info[0]);
    bool sync = info[2].ToBoolean();
    if (info[1].IsArrayBuffer()) {
      Napi::ArrayBuffer buffer = info[1].As<Napi::ArrayBuffer>();
      if (buffer.Data() == m->base() && !m->closed()) buffer.Detach();
    }
    return runOffThread(info.Env(), [m, sync] { m->unmap(sync); });
  });
}

// buffer(handle) -> a new ArrayBuffer over the mapping's memory (after a failed unmapAsync).
Napi::Value Buffer(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (!info[0].IsExternal()) throw std::invalid_argument("not a mapping handle");
    const LeaseRef& lease = *info[0].As<Napi::External<LeaseRef>>().Data();
    if (lease->mapping->closed()) throw std::system_error(EBADF, std::generic_category(), "mapping is unmapped");
    return mappedArrayBuffer(info.Env(), lease);
  });
}

#ifdef IOC_FAILPOINTS_ENABLED
// Test builds only, as every umapTest* and umapBench* export (src/native.ts: testHooks()).
// Test hook (test_gate.h): pause the next asynchronous write-back after `pieces` pieces.
Napi::Value TestPauseWriteBack(const Napi::CallbackInfo& info) {
  testGateArm(static_cast<size_t>(info[0].As<Napi::Number>().DoubleValue()));
  return info.Env().Undefined();
}

// Blocks the JS thread until a write-back is paused (the write-back never needs it): true, or
// false after timeoutMs.
Napi::Value TestWaitPaused(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), testGateWaitPaused(static_cast<unsigned>(info[0].As<Napi::Number>().DoubleValue())));
}

Napi::Value TestReleaseWriteBack(const Napi::CallbackInfo& info) {
  testGateRelease();
  return info.Env().Undefined();
}

// Test hooks (test_gate.h): pause the next read-ahead of segment at phase (0 before its read,
// 1 after it, 2 installed; failWith: a negative errno its read then reports), wait until it is
// paused, release it; wait
// until no read-ahead is queued or running. The waits block the JS thread (readers never need it).
Napi::Value TestPauseReadAhead(const Napi::CallbackInfo& info) {
  testReadAheadArm(static_cast<size_t>(info[0].As<Napi::Number>().DoubleValue()), info[1].As<Napi::Number>().Int32Value(),
                   info.Length() > 2 ? info[2].As<Napi::Number>().Int32Value() : 0);
  return info.Env().Undefined();
}
Napi::Value TestWaitReadAheadPaused(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), testReadAheadWaitPaused(static_cast<unsigned>(info[0].As<Napi::Number>().DoubleValue())));
}
Napi::Value TestReleaseReadAhead(const Napi::CallbackInfo& info) {
  testReadAheadRelease();
  return info.Env().Undefined();
}
Napi::Value TestReadAheadIdle(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), readAheadWaitIdle(static_cast<unsigned>(info[0].As<Napi::Number>().DoubleValue())));
}
#endif

// switchTo(handle, scheme, params, copyFirst, allowExist)
Napi::Value SwitchTo(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto m = mappingOf(info[0]);
    DriverParams params = paramsOf(info[2]);
    auto driver = createDriver(info[1].ToString(), params);
    m->switchDriver(std::move(driver), info[3].ToBoolean(), info[4].ToBoolean());
    return info.Env().Undefined();
  });
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
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
  });
}

// Named policies are process-wide: worker threads that ask for the same name share one quota.
std::mutex namedPoliciesMutex;
std::map<std::string, std::weak_ptr<EvictionPolicy>> namedPolicies;

// policyCreate(order 'fifo'|'lifo', limitBytes, windowBytes, name?) -> handle shared by mappings
Napi::Value PolicyCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    std::string order = info[0].ToString();
    if (order != "fifo" && order != "lifo") throw std::invalid_argument("unknown policy order " + order);
    size_t limit = static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue());
    size_t window = static_cast<size_t>(info[2].ToNumber().DoubleValue());
    std::string name = info.Length() > 3 && info[3].IsString() ? info[3].ToString().Utf8Value() : "";
    auto kind = order == "fifo" ? EvictionPolicy::Order::Fifo : EvictionPolicy::Order::Lifo;
    std::shared_ptr<EvictionPolicy> policy;
    if (!name.empty()) {
      std::lock_guard<std::mutex> lock(namedPoliciesMutex);
      policy = namedPolicies[name].lock();
      if (policy && (policy->order() != kind || policy->limit() != limit || policy->window() != window))
        throw std::invalid_argument("policy '" + name + "' already exists with other parameters");
      if (!policy) {
        policy = std::make_shared<EvictionPolicy>(kind, limit, window);
        namedPolicies[name] = policy;
      }
    } else {
      policy = std::make_shared<EvictionPolicy>(kind, limit, window);
    }
    return Napi::External<PolicyRef>::New(env, new PolicyRef(policy), [](Napi::Env, PolicyRef* p) { delete p; });
  });
}

Napi::Value PolicyStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PolicyRef& p = *info[0].As<Napi::External<PolicyRef>>().Data();
  Napi::Object o = Napi::Object::New(env);
  o.Set("used", double(p->used()));
  o.Set("limit", double(p->limit()));
  return o;
}

Napi::Value DropMemStore(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), dropMemStore(info[0].ToString()));
}

#ifdef IOC_FAILPOINTS_ENABLED
double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Bench baseline: seconds to install totalBytes with UFFDIO_COPY in chunkBytes pieces from a
// resident source of the same size, no faults involved (the best a fault handler could do).
Napi::Value BenchBulkCopy(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    size_t total = static_cast<size_t>(info[0].As<Napi::Number>().DoubleValue());
    size_t chunk = static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue());
    UffdContext& ctx = uffdContext(DirtyTracking::WpFault);
    void* dst = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (dst == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap");
    madvise(dst, total, MADV_NOHUGEPAGE);
    // A source as large as the destination, like a store: not cache-hot.
    std::vector<uint8_t> src(total, 1);
    int ret = ctx.registerRange(dst, total, false);
    double t0 = now();
    for (size_t off = 0; ret == 0 && off < total; off += chunk) ret = ctx.copy(static_cast<uint8_t*>(dst) + off, src.data() + off, std::min(chunk, total - off), false);
    double t1 = now();
    ctx.unregisterRange(dst, total);
    munmap(dst, total);
    if (ret < 0) throw std::system_error(-ret, std::generic_category(), "UFFDIO_COPY");
    return Napi::Number::New(info.Env(), t1 - t0);
  });
}

// Bench baseline: the kernel's own shared mapping of a file (e.g. on /dev/shm), as an ArrayBuffer.
Napi::Value BenchMapFile(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    std::string path = info[0].ToString();
    size_t size = static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue());
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + path);
    void* p = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    int err = errno;
    close(fd);
    if (p == MAP_FAILED) throw std::system_error(err, std::generic_category(), "mmap " + path);
    return Napi::ArrayBuffer::New(info.Env(), p, size, [](Napi::Env, void*) {});
  });
}

Napi::Value BenchUnmapFile(const Napi::CallbackInfo& info) {
  Napi::ArrayBuffer buffer = info[0].As<Napi::ArrayBuffer>();
  void* p = buffer.Data();
  size_t size = buffer.ByteLength();
  buffer.Detach();
  if (p) munmap(p, size);
  return info.Env().Undefined();
}
#endif

}  // namespace

Napi::Object InitUmapBinding(Napi::Env env, Napi::Object exports) {
  exports.Set("umapSupport", Napi::Function::New(env, Support, "umapSupport"));
  exports.Set("umapCreate", Napi::Function::New(env, Create, "umapCreate"));
  exports.Set("umapFlush", Napi::Function::New(env, Flush, "umapFlush"));
  exports.Set("umapUnmap", Napi::Function::New(env, Unmap, "umapUnmap"));
  exports.Set("umapFlushAsync", Napi::Function::New(env, FlushAsync, "umapFlushAsync"));
  exports.Set("umapUnmapAsync", Napi::Function::New(env, UnmapAsync, "umapUnmapAsync"));
  exports.Set("umapBuffer", Napi::Function::New(env, Buffer, "umapBuffer"));
#ifdef IOC_FAILPOINTS_ENABLED
  exports.Set("umapTestPauseWriteBack", Napi::Function::New(env, TestPauseWriteBack, "umapTestPauseWriteBack"));
  exports.Set("umapTestWaitPaused", Napi::Function::New(env, TestWaitPaused, "umapTestWaitPaused"));
  exports.Set("umapTestReleaseWriteBack", Napi::Function::New(env, TestReleaseWriteBack, "umapTestReleaseWriteBack"));
  exports.Set("umapTestPauseReadAhead", Napi::Function::New(env, TestPauseReadAhead, "umapTestPauseReadAhead"));
  exports.Set("umapTestWaitReadAheadPaused", Napi::Function::New(env, TestWaitReadAheadPaused, "umapTestWaitReadAheadPaused"));
  exports.Set("umapTestReleaseReadAhead", Napi::Function::New(env, TestReleaseReadAhead, "umapTestReleaseReadAhead"));
  exports.Set("umapTestReadAheadIdle", Napi::Function::New(env, TestReadAheadIdle, "umapTestReadAheadIdle"));
  exports.Set("umapBenchBulkCopy", Napi::Function::New(env, BenchBulkCopy, "umapBenchBulkCopy"));
  exports.Set("umapBenchMapFile", Napi::Function::New(env, BenchMapFile, "umapBenchMapFile"));
  exports.Set("umapBenchUnmapFile", Napi::Function::New(env, BenchUnmapFile, "umapBenchUnmapFile"));
#endif
  exports.Set("umapSwitch", Napi::Function::New(env, SwitchTo, "umapSwitch"));
  exports.Set("umapStats", Napi::Function::New(env, Stats, "umapStats"));
  exports.Set("umapPolicyCreate", Napi::Function::New(env, PolicyCreate, "umapPolicyCreate"));
  exports.Set("umapPolicyStats", Napi::Function::New(env, PolicyStats, "umapPolicyStats"));
  exports.Set("umapDropMemStore", Napi::Function::New(env, DropMemStore, "umapDropMemStore"));
  return exports;
}
