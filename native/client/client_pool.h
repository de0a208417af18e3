// The client handle of the C API (ioc_client_t): one connection pool per server, the lease of
// a pooled connection for one call, and the routing of a call to the server of its object.
// Shared by the files of the C API (client_api.cc, namespace_api.cc).
#pragma once

#include <errno.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "client/call_deadline.h"
#include "client/call_reason.h"
#include "client/connection.h"
#include "client/router.h"
#include "fabric/protocol.h"
#include "iocatcher-client.h"

namespace ioc {
namespace client {

using proto::ObjectId;
using proto::Reader;

// One server's connection pool (one connection per concurrent caller).
struct ServerPool {
  ConnectOptions opts;
  ServerAddress addr;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::unique_ptr<Connection>> idle;
  int total = 0;
  std::atomic<int64_t> downUntilMs{0};  // unreachable lately: tried last until then
  // Reconnect back-off: after a failed connect, calls fail at once with the same error until
  // retryAtMs; the wait doubles per failure (100 ms .. 5 s) and resets on success.
  std::atomic<int64_t> retryAtMs{0}, backoffMs{0};
  std::atomic<int> lastConnectError{0};
  // The server's start epoch and durability as its latest handshake said (ioc_client_server_epoch).
  std::atomic<uint64_t> epoch{0};
  std::atomic<bool> durable{false};
  void noteHandshake(const Connection &c) {
    durable = c.serverDurable();
    epoch = c.serverEpoch();
  }
  // The handle's one TCP side channel to this server, shared by every connection of the pool
  // (ranges registered on one connection are then unregistered on any other). Replaced only
  // when the server closed it (a restart: the new server knows none of our ranges anyway).
  // Held here as well as by the connections: dropping the last connection must not release
  // the handle's ranges.
  std::shared_ptr<SideChannel> sideChannel(const ConnectOptions &o) {
    std::lock_guard<std::mutex> lock(sideMu);
    if (!side || side->gone()) side = std::make_shared<SideChannel>(o);
    return side;
  }
  std::mutex sideMu;
  std::shared_ptr<SideChannel> side;
};

uint64_t nextClientSerial();

}  // namespace client
}  // namespace ioc

struct ioc_client_s {
  std::vector<ioc::client::ServerAddress> addrs;                // as parsed, in list order
  std::vector<std::unique_ptr<ioc::client::ServerPool>> pools;  // same order
  std::string providerName;
  std::atomic<bool> passiveWait{true};
  std::atomic<unsigned> timeoutMs{30000};
  // Unique in the process (never reused, unlike the address): names the handle in the calling
  // threads' last-error records (call_reason.h).
  uint64_t serial = ioc::client::nextClientSerial();
};

namespace ioc {
namespace client {

inline int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Errors meaning "this server cannot be reached" (as opposed to an answer from it).
inline bool unreachable(int64_t err) {
  return err == -ECONNREFUSED || err == -ECONNRESET || err == -EPIPE || err == -ENOTCONN || err == -EHOSTUNREACH ||
         err == -ENETUNREACH;
}

constexpr int64_t DOWN_BACKOFF_MS = 2000;

// Borrow a connection of one server for one call; a broken one is dropped on return (the next
// call reconnects).
//
// fresh: the call is a retry after a reset (a server restart leaves every pooled connection
// stale): never reuse an idle connection, and drop the idle ones that may be stale.
class Lease {
 public:
  // deadline: the call's (connecting counts against its timeout); unset: none.
  Lease(ioc_client_t *c, ServerPool *pool, bool fresh = false,
        std::chrono::steady_clock::time_point deadline = {})
      : client_(c), pool_(pool) {
    std::unique_lock<std::mutex> lock(pool->mu);
    std::vector<std::unique_ptr<Connection>> dropped;  // closed once the lock is released
    if (fresh && dropStaleIdle(pool, dropped)) pool->cv.notify_all();
    pool->cv.wait(lock, [&] { return !pool->idle.empty() || pool->total < IOC_CLIENT_MAX_CONNECTIONS; });
    if (fresh && pool->total >= IOC_CLIENT_MAX_CONNECTIONS) {  // full: make room
      dropped.push_back(std::move(pool->idle.back()));
      pool->idle.pop_back();
      pool->total--;
    }
    if (!pool->idle.empty() && !fresh) {
      conn_ = std::move(pool->idle.back());
      pool->idle.pop_back();
    } else {
      pool->total++;
      lock.unlock();
      dropped.clear();
      try {
        if (nowMs() < pool->retryAtMs.load()) throw ConnectError(pool->lastConnectError.load(), "backing off");
        ConnectOptions o = pool->opts;
        o.timeoutMs = c->timeoutMs;
        o.deadline = deadline;
        if (deadline != std::chrono::steady_clock::time_point{} && std::chrono::steady_clock::now() >= deadline)
          throw ConnectError(ETIMEDOUT, "the call's time is up");
        conn_.reset(new Connection(o, pool->sideChannel(o)));
        pool->noteHandshake(*conn_);
        pool->backoffMs = 0;
      } catch (const ConnectError &e) {
        if (clientDebug()) fprintf(stderr, "iocatcher-client: %s: %s\n", pool->addr.key.c_str(), e.what());
        if (std::string(e.what()) != "backing off" && std::string(e.what()) != "the call's time is up") {
          int64_t b = std::min<int64_t>(std::max<int64_t>(100, pool->backoffMs.load() * 2), 5000);
          pool->backoffMs = b;
          pool->lastConnectError = e.errnum ? e.errnum : ECONNREFUSED;
          pool->retryAtMs = nowMs() + b;
        }
        error_ = -(e.errnum ? e.errnum : ECONNREFUSED);
        lock.lock();
        pool->total--;
        pool->cv.notify_one();
        return;
      }
    }
    conn_->setPassiveWait(c->passiveWait);
    conn_->setTimeout(c->timeoutMs);
    if (deadline != std::chrono::steady_clock::time_point{})
      conn_->setTimeout(std::max(1u, msLeft(deadline)));  // what connecting left of the call's time
  }
  ~Lease() {
    if (!conn_) return;
    std::lock_guard<std::mutex> lock(pool_->mu);
    if (conn_->broken()) {
      if (clientDebug()) fprintf(stderr, "iocatcher-client: %s: dropping connection: %s\n", pool_->addr.key.c_str(), conn_->lastError().c_str());
      conn_.reset();
      pool_->total--;
    } else {
      pool_->idle.push_back(std::move(conn_));
    }
    pool_->cv.notify_one();
  }
  Connection *operator->() { return conn_.get(); }
  Connection &connection() { return *conn_; }
  ServerPool *pool() const { return pool_; }
  int error() const { return conn_ ? 0 : (error_ ? error_ : -ECONNREFUSED); }

 private:
  static bool dropStaleIdle(ServerPool *pool, std::vector<std::unique_ptr<Connection>> &dropped) {
    for (auto it = pool->idle.begin(); it != pool->idle.end();) {
      if (!(*it)->maybeStale()) {
        ++it;
        continue;
      }
      dropped.push_back(std::move(*it));
      it = pool->idle.erase(it);
      pool->total--;
    }
    if (!dropped.empty() && clientDebug())
      fprintf(stderr, "iocatcher-client: %s: dropped %zu idle connections that may be stale\n", pool->addr.key.c_str(),
              dropped.size());
    return !dropped.empty();
  }

  ioc_client_t *client_;
  ServerPool *pool_;
  std::unique_ptr<Connection> conn_;
  int error_ = 0;
};

// fn on a connection of pool; an idempotent call whose connection was reset is tried once more
// on a fresh connection: a transport reset is not an answer from the server (after a server
// restart, every pooled connection fails its first call so).
template <class F>
int64_t onPool(ioc_client_t *c, ServerPool *pool, bool idempotent, F &fn) {
  int64_t ret;
  // One deadline for the whole call: a reconnect and the retry below count against its timeout
  // (and against the thread's call deadline, when one is set: call_deadline.h).
  using TP = std::chrono::steady_clock::time_point;
  unsigned timeoutMs = c->timeoutMs;
  TP deadline = timeoutMs ? std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs) : TP{};
  TP capped = ioc::client::threadCallDeadline();
  if (capped != TP{} && (deadline == TP{} || capped < deadline)) deadline = capped;

  {
    Lease conn(c, pool, false, deadline);
    ret = conn.error() ? conn.error() : fn(conn);
    if (ret < 0 && !conn.error()) noteCallReason(conn->replyReason());
  }
  if (!idempotent || ret != -ECONNRESET) return ret;
  if (clientDebug()) fprintf(stderr, "iocatcher-client: %s: connection reset, retrying once on a fresh connection\n", pool->addr.key.c_str());
  if (deadline != TP{} && std::chrono::steady_clock::now() >= deadline) return -ETIMEDOUT;
  Lease conn(c, pool, true, deadline);
  ret = conn.error() ? conn.error() : fn(conn);
  if (ret < 0 && !conn.error()) noteCallReason(conn->replyReason());
  return ret;
}

// Run fn on a connection to the server of object (high, low). With failover, a server that
// cannot be reached is skipped for the next one in rendezvous order (servers that were
// unreachable lately are tried last); without, the call goes to the owner only. idempotent:
// fn may run twice (see onPool).
template <class F>
int64_t routed(ioc_client_t *c, int64_t high, int64_t low, bool failover, bool idempotent, F &&fn) {
  if (c->pools.size() == 1) return onPool(c, c->pools[0].get(), idempotent, fn);  // single server
  std::vector<size_t> order;
  rendezvousOrder(high, low, c->addrs, order);
  if (!failover) order.resize(1);
  int64_t now = nowMs();
  std::stable_partition(order.begin(), order.end(), [&](size_t i) { return c->pools[i]->downUntilMs.load() <= now; });
  int64_t last = -ECONNREFUSED;
  for (size_t i : order) {
    ServerPool *pool = c->pools[i].get();
    int64_t ret = onPool(c, pool, idempotent, fn);
    if (!unreachable(ret)) {
      if (ret >= 0) pool->downUntilMs = 0;
      return ret;
    }
    pool->downUntilMs = nowMs() + DOWN_BACKOFF_MS;
    last = ret;
  }
  return last;
}

inline ObjectId oid(int64_t high, int64_t low) {
  ObjectId id;
  id.high = high;
  id.low = low;
  return id;
}

// A reply that is a Response with no data (a ReplyReason may follow a failure's).
inline int statusOnly(uint64_t, Reader &r) {
  proto::Response resp;
  if (!proto::decodeResponse(r, resp)) return -EPROTO;
  return resp.status;
}


}  // namespace client
}  // namespace ioc
