// The object namespace of the C API (include/iocatcher-client.h): stat, delete and the listing
// of every server's objects. Sent only to servers whose handshake listed FEATURE_NAMESPACE;
// otherwise -ENOSYS with nothing sent, ioc_client_last_error saying what the server is.
#include <errno.h>

#include <deque>
#include <memory>
#include <new>
#include <set>
#include <string>

#include "client/call_reason.h"
#include "client/client_pool.h"
#include "client/requests.h"
#include "iocatcher-client.h"

using namespace ioc;
using namespace ioc::client;
using namespace ioc::proto;

#define IOC_API extern "C" __attribute__((visibility("default")))

namespace {

void toC(const ObjectStat &s, ioc_obj_stat_t &out) {
  out.high = s.objectId.high;
  out.low = s.objectId.low;
  out.size = s.size;
  out.stored_bytes = s.storedBytes;
  out.cached_bytes = s.cachedBytes;
  out.dirty_bytes = s.dirtyBytes;
  out.stored = s.stored;
}

// call's request on conn, or -ENOSYS (nothing sent) when its server has no namespace.
template <class Call>
int64_t namespaceCall(Lease &conn, Call &call) {
  std::string refusal = namespaceRefusal(conn.connection(), conn.pool()->addr.key);
  if (!refusal.empty()) {
    noteCallReason(refusal);
    return -ENOSYS;
  }
  return conn->call(
      call.msgType(), [&](Writer &w) { call.encode(w); }, call.replyType(),
      [&](uint64_t, Reader &r) { return call.onReply(r); });
}

}  // namespace

// A listing in progress: the servers in list order, each listed to its end (the cache's objects,
// then the store's). Memory: one page, and the ids of the current server's first phase.
struct ioc_obj_list_s {
  ioc_client_t *client = nullptr;
  bool filterHigh = false;
  int64_t high = 0;
  size_t server = 0;                 // index in client->pools of the server being listed
  std::string cursor;                // where its next page starts ("": its first page)
  std::set<ObjectId> cachedPhase;    // ids its first phase (the cache) gave
  std::deque<ObjectStat> ready;      // entries received and not handed out yet
  bool done = false;
};

namespace {

// The page after cursor->cursor of the current server, its entries filtered into ready.
int fetchPage(ioc_obj_list_t *l, size_t want) {
  ioc_client_t *c = l->client;
  ServerPool *pool = c->pools[l->server].get();
  ListCall call;
  call.msg.cursor = l->cursor;
  call.msg.filterHigh = l->filterHigh;
  call.msg.high = l->high;
  call.msg.maxEntries = (uint32_t)std::min<size_t>(want, ListPage::MAX_ENTRIES);
  auto fn = [&](Lease &conn) -> int64_t { return namespaceCall(conn, call); };
  int ret = (int)onPool(c, pool, true, fn);
  if (ret < 0) return ret;
  bool several = c->pools.size() > 1;
  for (const ObjectStat &e : call.page.entries) {
    // With several servers each object is listed by its owner alone: servers that share a store
    // all list its objects, and a server that served a failed-over read caches another's object.
    if (several && rendezvousOwner(e.objectId.high, e.objectId.low, c->addrs) != l->server) continue;
    if (l->filterHigh && e.objectId.high != l->high) continue;
    if (!call.page.fromStore) {
      l->cachedPhase.insert(e.objectId);
    } else if (l->cachedPhase.count(e.objectId)) {
      continue;  // listed from the cache already, stored since
    }
    l->ready.push_back(e);
  }
  if (call.page.end) {
    l->server++;
    l->cursor.clear();
    l->cachedPhase.clear();
    l->done = l->server >= c->pools.size();
  } else {
    l->cursor = call.page.next;
  }
  return 0;
}

}  // namespace

IOC_API int ioc_client_obj_stat(ioc_client_t *client, int64_t high, int64_t low, ioc_obj_stat_t *out) {
  if (!client) return -EINVAL;
  CallReasonScope reason(client->serial);  // a call refused here leaves no reason either
  if (!out) return -EINVAL;
  StatCall call(high, low);
  int ret = (int)routed(client, high, low, false, true, [&](Lease &conn) { return namespaceCall(conn, call); });
  if (ret < 0) return ret;
  toC(call.stat, *out);
  return 0;
}

IOC_API int ioc_client_obj_delete(ioc_client_t *client, int64_t high, int64_t low) {
  if (!client) return -EINVAL;
  CallReasonScope reason(client->serial);
  DeleteCall call(high, low);
  // Tried again after a connection reset (a server restart leaves pooled connections stale):
  // when the first try had reached the server, the second answers -ENOENT.
  return (int)routed(client, high, low, false, true, [&](Lease &conn) { return namespaceCall(conn, call); });
}

IOC_API ioc_obj_list_t *ioc_client_obj_list_open(ioc_client_t *client, bool filter_high, int64_t high) {
  if (!client) {
    errno = EINVAL;
    return nullptr;
  }
  auto *l = new (std::nothrow) ioc_obj_list_t;
  if (!l) {
    errno = ENOMEM;
    return nullptr;
  }
  l->client = client;
  l->filterHigh = filter_high;
  l->high = high;
  return l;
}

IOC_API ssize_t ioc_client_obj_list(ioc_obj_list_t *cursor, ioc_obj_stat_t *entries, size_t max) {
  if (!cursor) return -EINVAL;
  CallReasonScope reason(cursor->client->serial);
  if (!entries || max == 0) return -EINVAL;
  try {
    // A page may be empty without being the last: go on until entries come or the listing ends.
    // A failure leaves the cursor as it was: calling again asks for the same page.
    while (cursor->ready.empty() && !cursor->done) {
      int ret = fetchPage(cursor, max);
      if (ret < 0) return ret;
    }
  } catch (const std::bad_alloc &) {
    return -ENOMEM;
  }
  size_t n = 0;
  for (; n < max && !cursor->ready.empty(); n++) {
    toC(cursor->ready.front(), entries[n]);
    cursor->ready.pop_front();
  }
  return (ssize_t)n;
}

IOC_API void ioc_client_obj_list_close(ioc_obj_list_t *cursor) { delete cursor; }
