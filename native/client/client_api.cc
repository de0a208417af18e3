// The C API of include/iocatcher-client.h over a pool of Connections (one per concurrent caller).
#include <cctype>
#include <errno.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "client/call_deadline.h"
#include "client/call_reason.h"
#include "client/client_pool.h"
#include "client/connection.h"
#include "client/requests.h"
#include "client/router.h"
#include "common/failpoint.h"
#include "iocatcher-client.h"

using namespace ioc;
using namespace ioc::client;
using namespace ioc::proto;

#define IOC_API extern "C" __attribute__((visibility("default")))

namespace ioc {
namespace client {
static thread_local std::chrono::steady_clock::time_point tlsCallDeadline{};
void setThreadCallDeadline(std::chrono::steady_clock::time_point deadline) { tlsCallDeadline = deadline; }
std::chrono::steady_clock::time_point threadCallDeadline() { return tlsCallDeadline; }
}  // namespace client
}  // namespace ioc

IOC_API ioc_client_t *ioc_client_init(const char *ip, const char *port) {
  if (!ip || !*ip) {
    errno = EINVAL;
    return nullptr;
  }
#ifdef IOC_FAILPOINTS_ENABLED
  // Test builds: a wrong IOC_FAILPOINTS (said on stderr) fails every connection.
  if (!ioc::fail::start("iocatcher-client")) {
    errno = EINVAL;
    return nullptr;
  }
#endif
  std::unique_ptr<ioc_client_t> c(new ioc_client_t);
  std::string defaultPort = port && *port ? port : "8556";
  std::string error;
  if (!parseServerList(ip, defaultPort, c->addrs, &error)) {
    if (clientDebug()) fprintf(stderr, "iocatcher-client: %s\n", error.c_str());
    errno = EINVAL;
    return nullptr;
  }
  if (const char *t = getenv("IOC_CLIENT_TIMEOUT_MS")) {
    // A typo must not silently mean "no timeout" (atoi's 0): refuse the connection instead.
    char *end;
    errno = 0;
    unsigned long v = strtoul(t, &end, 10);
    if (!isdigit((unsigned char)*t) || *end || errno || v > 86400000) {
      fprintf(stderr, "iocatcher-client: IOC_CLIENT_TIMEOUT_MS='%s' is not a whole number of milliseconds (0-86400000)\n", t);
      errno = EINVAL;
      return nullptr;
    }
    c->timeoutMs = (unsigned)v;
  }
  // Connect to every server now; with several, those that cannot be reached are tried again by
  // later calls, and init fails only when none can be reached.
  int firstError = 0;
  for (const ServerAddress &a : c->addrs) {
    std::unique_ptr<ServerPool> pool(new ServerPool);
    pool->addr = a;
    pool->opts.ip = a.host;
    pool->opts.port = a.port;
    pool->opts.timeoutMs = c->timeoutMs;
    // A handshake the server's side reset is no answer (as for a call): one more try, on a
    // fresh connection.
    for (int attempt = 0;; attempt++) {
      try {
        ConnectOptions o = pool->opts;
        o.deadline = connectDeadline(o);  // the side channel and the handshake share the timeout
        std::unique_ptr<Connection> first(new Connection(o, pool->sideChannel(o)));
        pool->noteHandshake(*first);
        if (c->providerName.empty()) c->providerName = first->providerName();
        pool->idle.push_back(std::move(first));
        pool->total = 1;
      } catch (const ConnectError &e) {
        if (clientDebug()) fprintf(stderr, "iocatcher-client: %s: %s\n", a.key.c_str(), e.what());
        if (e.errnum == ECONNRESET && attempt == 0) {
          if (clientDebug()) fprintf(stderr, "iocatcher-client: %s: handshake reset, trying once more\n", a.key.c_str());
          continue;
        }
        if (!firstError) firstError = e.errnum;
        pool->downUntilMs = nowMs() + DOWN_BACKOFF_MS;
      }
      break;
    }
    c->pools.push_back(std::move(pool));
  }
  if (c->providerName.empty()) {
    errno = firstError ? firstError : ECONNREFUSED;
    return nullptr;
  }
  return c.release();
}

IOC_API void ioc_client_fini(ioc_client_t *client) {
  if (client) dropCallReason(client->serial);
  delete client;
}

IOC_API const char *ioc_client_last_error(ioc_client_t *client) {
  return client ? threadCallReason(client->serial) : "";
}

IOC_API const char *ioc_client_provider_name(ioc_client_t *client) {
  return client ? client->providerName.c_str() : nullptr;
}

IOC_API void ioc_client_set_passive_wait(ioc_client_t *client, bool value) {
  if (client) client->passiveWait = value;
}

IOC_API void ioc_client_set_timeout(ioc_client_t *client, unsigned int timeout_ms) {
  if (client) client->timeoutMs = timeout_ms;
}

IOC_API int ioc_client_server_count(ioc_client_t *client) { return client ? (int)client->addrs.size() : -EINVAL; }

IOC_API const char *ioc_client_server_name(ioc_client_t *client, int index) {
  if (!client || index < 0 || (size_t)index >= client->addrs.size()) return nullptr;
  return client->addrs[index].key.c_str();
}

IOC_API int ioc_client_server_of(ioc_client_t *client, int64_t high, int64_t low) {
  if (!client) return -EINVAL;
  return (int)rendezvousOwner(high, low, client->addrs);
}

IOC_API uint64_t ioc_client_server_epoch(ioc_client_t *client, int64_t high, int64_t low, int *durable) {
  if (!client || client->pools.empty()) return 0;
  ServerPool &pool = *client->pools[rendezvousOwner(high, low, client->addrs)];
  if (durable) *durable = pool.durable;
  return pool.epoch;
}

static ssize_t readWrite(ioc_client_t *client, int64_t high, int64_t low, void *buffer, size_t size, size_t offset,
                         bool write) {
  if (!client) return -EINVAL;
  CallReasonScope reason(client->serial);  // a call refused here leaves no reason either
  if ((!buffer && size) || offset + size < offset) return -EINVAL;
  if (size == 0) return 0;
  // Reads fail over to the next server (a shared store serves the flushed data); writes do not.
  // Both may be sent twice: the same bytes at the same offset.
  return (ssize_t)routed(client, high, low, !write, true, [&](Lease &conn) -> int64_t {
    ReadWriteCall rw(high, low, buffer, size, offset, write);
    fabric::MemoryRegion mr;
    if (!rw.eager()) {
      try {
        mr = conn->registerBuffer(buffer, size, rw.msg.iov);
      } catch (const fabric::FabricError &e) {
        return e.code() < 0 ? e.code() : -EIO;
      }
    }
    int ret = conn->call(
        write ? OBJ_WRITE : OBJ_READ, [&](Writer &w) { rw.encode(w); }, READ_WRITE_ACK,
        [&](uint64_t, Reader &r) { return rw.onReply(r); });
    return ret < 0 ? (int64_t)ret : rw.transferred;
  });
}

IOC_API ssize_t ioc_client_obj_read(ioc_client_t *client, int64_t high, int64_t low, void *buffer, size_t size,
                                    size_t offset) {
  return readWrite(client, high, low, buffer, size, offset, false);
}

IOC_API ssize_t ioc_client_obj_write(ioc_client_t *client, int64_t high, int64_t low, const void *buffer, size_t size,
                                     size_t offset) {
  return readWrite(client, high, low, const_cast<void *>(buffer), size, offset, true);
}

// One OBJ_WRITE_PIECES message of n small pieces (to a server without the extension, one
// OBJ_WRITE each, on the same connection).
static int writePiecesMessage(ioc_client_t *client, int64_t high, int64_t low, const ioc_write_piece_t *pieces,
                              size_t n) {
  WritePieces m;
  m.objectId = oid(high, low);
  for (size_t i = 0; i < n; i++)
    if (pieces[i].size) m.pieces.push_back({pieces[i].offset, (uint32_t)pieces[i].size, (const char *)pieces[i].buffer});
  if (m.pieces.empty()) return 0;
  return (int)routed(client, high, low, false, true, [&](Lease &conn) -> int64_t {
    if (conn->features() & FEATURE_WRITE_PIECES)
      return conn->call(OBJ_WRITE_PIECES, [&](Writer &w) { m.encode(w); }, READ_WRITE_ACK, statusOnly);
    for (const WritePieces::Piece &p : m.pieces) {
      ReadWriteCall rw(high, low, const_cast<char *>(p.data), p.size, p.offset, true);
      int ret = conn->call(OBJ_WRITE, [&](Writer &w) { rw.encode(w); }, READ_WRITE_ACK,
                           [&](uint64_t, Reader &r) { return rw.onReply(r); });
      if (ret < 0) return ret;
    }
    return 0;
  });
}

IOC_API ssize_t ioc_client_obj_write_pieces(ioc_client_t *client, int64_t high, int64_t low,
                                            const ioc_write_piece_t *pieces, size_t count) {
  if (!client || (!pieces && count)) return -EINVAL;
  CallReasonScope reason(client->serial);
  uint64_t total = 0;
  for (size_t i = 0; i < count; i++) {
    if ((!pieces[i].buffer && pieces[i].size) || pieces[i].offset + pieces[i].size < pieces[i].offset) return -EINVAL;
    total += pieces[i].size;
  }
  // Runs of small pieces, up to EAGER_MAX bytes and MAX_PIECES pieces per message; a larger
  // piece goes alone as an ordinary write (RMA).
  for (size_t i = 0; i < count;) {
    if (pieces[i].size > EAGER_MAX) {
      ssize_t ret = readWrite(client, high, low, const_cast<void *>(pieces[i].buffer), pieces[i].size, pieces[i].offset,
                              true);
      if (ret < 0) return ret;
      i++;
      continue;
    }
    size_t j = i, bytes = 0, n = 0;
    while (j < count && n < WritePieces::MAX_PIECES && bytes + pieces[j].size <= EAGER_MAX) {
      bytes += pieces[j].size;
      n += pieces[j].size ? 1 : 0;
      j++;
    }
    int ret = writePiecesMessage(client, high, low, pieces + i, j - i);
    if (ret < 0) return ret;
    i = j;
  }
  return (ssize_t)total;
}

// A request about object (high, low) answered by a status only.
template <class Payload>
static int simpleCall(ioc_client_t *client, int64_t high, int64_t low, bool failover, bool idempotent, uint64_t type,
                      uint64_t ack, const Payload &p) {
  if (!client) return -EINVAL;
  CallReasonScope reason(client->serial);
  return (int)routed(client, high, low, failover, idempotent, [&](Lease &conn) -> int64_t {
    return conn->call(type, [&](Writer &w) { p.encode(w); }, ack, statusOnly);
  });
}

IOC_API int ioc_client_obj_flush(ioc_client_t *client, int64_t high, int64_t low, uint64_t offset, uint64_t size) {
  Flush m;
  m.objectId = oid(high, low);
  m.offset = offset;
  m.size = size;
  return simpleCall(client, high, low, false, true, FLUSH, FLUSH_ACK, m);
}

IOC_API int ioc_client_obj_create(ioc_client_t *client, int64_t high, int64_t low) {
  Create m;
  m.objectId = oid(high, low);
  return simpleCall(client, high, low, false, true, CREATE, CREATE_ACK, m);
}

IOC_API int ioc_client_obj_cow(ioc_client_t *client, int64_t orig_high, int64_t orig_low, int64_t dest_high,
                               int64_t dest_low, bool allow_exist, size_t offset, size_t size) {
  if (!client) return -EINVAL;
  CallReasonScope reason(client->serial);
  // The destination's server does the copy. When the source lives on another server, that server
  // first writes the source's dirty data back to the (shared) store, where the copy reads it.
  if (client->pools.size() > 1 &&
      rendezvousOwner(orig_high, orig_low, client->addrs) != rendezvousOwner(dest_high, dest_low, client->addrs)) {
    int ret = ioc_client_obj_flush(client, orig_high, orig_low, 0, 0);
    if (ret < 0) return ret;
  }
  Cow m;
  m.src = oid(orig_high, orig_low);
  m.dst = oid(dest_high, dest_low);
  m.allowExist = allow_exist;
  m.rangeOffset = offset;
  m.rangeSize = size;
  // Again with allow_exist, the copy is the same; without, a second try would find its own copy.
  return simpleCall(client, dest_high, dest_low, false, allow_exist, COW, COW_ACK, m);
}

IOC_API int32_t ioc_client_obj_range_register(ioc_client_t *client, int64_t high, int64_t low, size_t offset,
                                              size_t size, bool write) {
  RegisterRange m;
  m.objectId = oid(high, low);
  m.offset = offset;
  m.size = size;
  m.write = write;
  // Read registrations follow reads to the next server when the owner is unreachable.
  // Not idempotent: a second try would register twice.
  return simpleCall(client, high, low, !write, false, RANGE_REGISTER, RANGE_REGISTER_ACK, m);
}

IOC_API int ioc_client_obj_range_unregister(ioc_client_t *client, int32_t id, int64_t high, int64_t low,
                                            size_t offset, size_t size, bool write) {
  UnregisterRange m;
  m.objectId = oid(high, low);
  m.offset = offset;
  m.size = size;
  m.id = id;
  m.write = write;
  return simpleCall(client, high, low, !write, false, RANGE_UNREGISTER, RANGE_UNREGISTER_ACK, m);
}

IOC_API int ioc_client_ping_rounds(ioc_client_t *client, int cnt, size_t eager_size, size_t rdma_size) {
  if (!client) return -EINVAL;
  CallReasonScope reason(client->serial);
  if (cnt < 0 || eager_size > EAGER_MAX) return -EINVAL;
  std::unique_ptr<PingCall> owned;
  // Beyond 1 TiB no allocation can succeed: refused before trying (a sanitizer build aborts on
  // such a request instead of throwing).
  if (rdma_size > (size_t{1} << 40)) return -ENOMEM;
  try {  // nothing may escape into C: an RMA part too large to allocate is ENOMEM
    owned.reset(new PingCall(eager_size, rdma_size));
  } catch (const std::exception &) {
    return -ENOMEM;
  }
  PingCall &ping = *owned;
  // Each server answers its rounds on one connection (the first error is returned).
  int first = 0;
  auto rounds = [&](Lease &conn) -> int64_t {
    fabric::MemoryRegion mr;  // the RMA part, registered on this connection for its rounds
    if (rdma_size) {
      try {
        mr = conn->registerBuffer(ping.rdma.data(), rdma_size, ping.msg.iov);
      } catch (const fabric::FabricError &e) {
        return e.code() < 0 ? e.code() : -EIO;
      }
    }
    for (int i = 0; i < cnt; i++) {
      int ret = conn->call(
          ping.msgType(), [&](Writer &w) { ping.encode(w); }, ping.replyType(),
          [&](uint64_t, Reader &r) { return ping.onReply(r); });
      if (ret < 0) return ret;
    }
    return 0;
  };
  for (auto &pool : client->pools) {
    int ret = (int)onPool(client, pool.get(), true, rounds);
    if (ret < 0 && first == 0) first = ret;
  }
  return first;
}

IOC_API int ioc_client_ping(ioc_client_t *client, size_t eager_size) {
  return ioc_client_ping_rounds(client, 1, eager_size, 0);
}

IOC_API void ioc_client_ping_pong(ioc_client_t *client, int cnt, size_t eagerSize, size_t rdmaSize) {
  // The original's signature returns nothing (it aborted on failure): errno says how it went.
  int ret = ioc_client_ping_rounds(client, cnt, eagerSize, rdmaSize);
  if (ret < 0 && clientDebug()) fprintf(stderr, "iocatcher-client: ping_pong: %s\n", strerror(-ret));
  errno = ret < 0 ? -ret : 0;
}

// --- non-blocking borrowing, for the Node addon's event-loop path (client/requests.h) ---
namespace ioc {
namespace client {

Borrowed tryBorrowIdle(ioc_client_t *client, int64_t high, int64_t low) {
  Borrowed b;
  if (!client) return b;
  ServerPool *pool = client->pools[0].get();
  if (client->pools.size() > 1) {
    std::vector<size_t> order;
    rendezvousOrder(high, low, client->addrs, order);
    pool = client->pools[order[0]].get();
  }
  std::lock_guard<std::mutex> lock(pool->mu);
  if (pool->idle.empty()) return b;
  b.conn = pool->idle.back().release();
  pool->idle.pop_back();
  b.conn->setPassiveWait(client->passiveWait);
  b.conn->setTimeout(client->timeoutMs);
  b.pool = pool;
  return b;
}

void giveBack(const Borrowed &b) {
  if (!b.conn) return;
  ServerPool *pool = static_cast<ServerPool *>(b.pool);
  std::lock_guard<std::mutex> lock(pool->mu);
  if (b.conn->broken()) {
    delete b.conn;
    pool->total--;
  } else {
    pool->idle.emplace_back(b.conn);
  }
  pool->cv.notify_one();
}

}  // namespace client
}  // namespace ioc
