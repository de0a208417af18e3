// The C API of include/iocatcher-client.h over a pool of Connections (one per concurrent caller).
#include <errno.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "client/connection.h"
#include "iocatcher-client.h"

using namespace ioc;
using namespace ioc::client;
using namespace ioc::proto;

#define IOC_API extern "C" __attribute__((visibility("default")))

struct ioc_client_t {
  ConnectOptions opts;
  std::string providerName;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::unique_ptr<Connection>> idle;
  int total = 0;
  std::atomic<bool> passiveWait{true};
  std::atomic<unsigned> timeoutMs{30000};
};

namespace {

// Borrow a connection for one call; a broken one is dropped on return (the next call reconnects).
class Lease {
 public:
  explicit Lease(ioc_client_t *c) : client_(c) {
    std::unique_lock<std::mutex> lock(c->mu);
    c->cv.wait(lock, [&] { return !c->idle.empty() || c->total < IOC_CLIENT_MAX_CONNECTIONS; });
    if (!c->idle.empty()) {
      conn_ = std::move(c->idle.back());
      c->idle.pop_back();
    } else {
      c->total++;
      lock.unlock();
      try {
        ConnectOptions o = c->opts;
        conn_.reset(new Connection(o));
      } catch (const ConnectError &e) {
        error_ = -e.errnum;
        lock.lock();
        c->total--;
        c->cv.notify_one();
        return;
      }
    }
    conn_->setPassiveWait(c->passiveWait);
    conn_->setTimeout(c->timeoutMs);
  }
  ~Lease() {
    if (!conn_) return;
    std::lock_guard<std::mutex> lock(client_->mu);
    if (conn_->broken()) {
      if (getenv("IOC_DEBUG")) fprintf(stderr, "iocatcher-client: dropping connection: %s\n", conn_->lastError().c_str());
      conn_.reset();
      client_->total--;
    } else {
      client_->idle.push_back(std::move(conn_));
    }
    client_->cv.notify_one();
  }
  Connection *operator->() { return conn_.get(); }
  int error() const { return conn_ ? 0 : (error_ ? error_ : -ECONNREFUSED); }

 private:
  ioc_client_t *client_;
  std::unique_ptr<Connection> conn_;
  int error_ = 0;
};

ObjectId oid(int64_t high, int64_t low) {
  ObjectId id;
  id.high = high;
  id.low = low;
  return id;
}

int statusOnly(uint64_t, Reader &r) {
  Response resp;
  if (!decodePayload(r, resp)) return -EPROTO;
  return resp.status;
}

}  // namespace

IOC_API ioc_client_t *ioc_client_init(const char *ip, const char *port) {
  if (!ip || !*ip) {
    errno = EINVAL;
    return nullptr;
  }
  std::unique_ptr<ioc_client_t> c(new ioc_client_t);
  c->opts.ip = ip;
  c->opts.port = port && *port ? port : "8556";
  if (const char *t = getenv("IOC_CLIENT_TIMEOUT_MS")) c->timeoutMs = (unsigned)atoi(t);
  c->opts.timeoutMs = c->timeoutMs;
  try {
    std::unique_ptr<Connection> first(new Connection(c->opts));
    c->providerName = first->providerName();
    c->idle.push_back(std::move(first));
    c->total = 1;
  } catch (const ConnectError &e) {
    if (getenv("IOC_DEBUG")) fprintf(stderr, "iocatcher-client: %s\n", e.what());
    errno = e.errnum;
    return nullptr;
  }
  return c.release();
}

IOC_API void ioc_client_fini(ioc_client_t *client) { delete client; }

IOC_API const char *ioc_client_provider_name(ioc_client_t *client) {
  return client ? client->providerName.c_str() : nullptr;
}

IOC_API void ioc_client_set_passive_wait(ioc_client_t *client, bool value) {
  if (client) client->passiveWait = value;
}

IOC_API void ioc_client_set_timeout(ioc_client_t *client, unsigned int timeout_ms) {
  if (client) client->timeoutMs = timeout_ms;
}

static ssize_t readWrite(ioc_client_t *client, int64_t high, int64_t low, void *buffer, size_t size, size_t offset,
                         bool write) {
  if (!client || (!buffer && size)) return -EINVAL;
  if (offset + size < offset) return -EINVAL;
  if (size == 0) return 0;
  Lease conn(client);
  if (conn.error()) return conn.error();
  ReadWrite m;
  m.objectId = oid(high, low);
  m.offset = offset;
  m.size = size;
  bool eager = size <= EAGER_MAX;
  fabric::MemoryRegion mr;
  if (eager) {
    m.msgHasData = write;
    m.data = static_cast<const char *>(buffer);
  } else {
    try {
      mr = conn->registerBuffer(buffer, size, m.iov);
    } catch (const fabric::FabricError &e) {
      return e.code() < 0 ? e.code() : -EIO;
    }
  }
  int64_t transferred = 0;
  int ret = conn->call(
      write ? OBJ_WRITE : OBJ_READ, [&](Writer &w) { m.encode(w); }, READ_WRITE_ACK,
      [&](uint64_t, Reader &r) {
        Response resp;
        if (!decodePayload(r, resp)) return -EPROTO;
        if (resp.status < 0) return resp.status;
        if (!write && eager) {
          if (!resp.msgHasData || resp.msgDataSize != size) return -EPROTO;
          memcpy(buffer, resp.data, size);
        }
        transferred = resp.msgDataSize ? (int64_t)resp.msgDataSize : (int64_t)size;
        return 0;
      });
  return ret < 0 ? ret : (ssize_t)transferred;
}

IOC_API ssize_t ioc_client_obj_read(ioc_client_t *client, int64_t high, int64_t low, void *buffer, size_t size,
                                    size_t offset) {
  return readWrite(client, high, low, buffer, size, offset, false);
}

IOC_API ssize_t ioc_client_obj_write(ioc_client_t *client, int64_t high, int64_t low, const void *buffer, size_t size,
                                     size_t offset) {
  return readWrite(client, high, low, const_cast<void *>(buffer), size, offset, true);
}

template <class Payload>
static int simpleCall(ioc_client_t *client, uint64_t type, uint64_t ack, const Payload &p) {
  if (!client) return -EINVAL;
  Lease conn(client);
  if (conn.error()) return conn.error();
  return conn->call(type, [&](Writer &w) { p.encode(w); }, ack, statusOnly);
}

IOC_API int ioc_client_obj_flush(ioc_client_t *client, int64_t high, int64_t low, uint64_t offset, uint64_t size) {
  Flush m;
  m.objectId = oid(high, low);
  m.offset = offset;
  m.size = size;
  return simpleCall(client, FLUSH, FLUSH_ACK, m);
}

IOC_API int ioc_client_obj_create(ioc_client_t *client, int64_t high, int64_t low) {
  Create m;
  m.objectId = oid(high, low);
  return simpleCall(client, CREATE, CREATE_ACK, m);
}

IOC_API int ioc_client_obj_cow(ioc_client_t *client, int64_t orig_high, int64_t orig_low, int64_t dest_high,
                               int64_t dest_low, bool allow_exist, size_t offset, size_t size) {
  Cow m;
  m.src = oid(orig_high, orig_low);
  m.dst = oid(dest_high, dest_low);
  m.allowExist = allow_exist;
  m.rangeOffset = offset;
  m.rangeSize = size;
  return simpleCall(client, COW, COW_ACK, m);
}

IOC_API int32_t ioc_client_obj_range_register(ioc_client_t *client, int64_t high, int64_t low, size_t offset,
                                              size_t size, bool write) {
  RegisterRange m;
  m.objectId = oid(high, low);
  m.offset = offset;
  m.size = size;
  m.write = write;
  return simpleCall(client, RANGE_REGISTER, RANGE_REGISTER_ACK, m);
}

IOC_API int ioc_client_obj_range_unregister(ioc_client_t *client, int32_t id, int64_t high, int64_t low,
                                            size_t offset, size_t size, bool write) {
  UnregisterRange m;
  m.objectId = oid(high, low);
  m.offset = offset;
  m.size = size;
  m.id = id;
  m.write = write;
  return simpleCall(client, RANGE_UNREGISTER, RANGE_UNREGISTER_ACK, m);
}

IOC_API int ioc_client_ping(ioc_client_t *client, size_t eager_size) {
  if (!client || eager_size > EAGER_MAX) return -EINVAL;
  Lease conn(client);
  if (conn.error()) return conn.error();
  std::vector<char> data(eager_size, 'p');
  Ping p;
  p.eagerSize = eager_size;
  p.data = data.data();
  return conn->call(
      PING, [&](Writer &w) { p.encode(w); }, PONG,
      [&](uint64_t, Reader &r) {
        Ping back;
        if (!decodePayload(r, back)) return -EPROTO;
        return back.eagerSize == eager_size ? 0 : -EPROTO;
      });
}
