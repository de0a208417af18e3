// FabricServer's object namespace requests: stat, list and delete (the cache and the store do
// the work on store threads: the loop never waits for them).
#include <errno.h>

#include "server/fabric_server.h"
#include "server/log.h"

namespace ioc {
namespace server {

using namespace proto;

void FabricServer::handleStat(Incoming &in, Reader &r) {
  ObjectRequest m;
  if (!decodePayload(r, m)) return reply(in.to, -EINVAL, "malformed OBJ_STAT");
  in.async = true;
  ReplyTo to = in.to;
  auto started = in.started;
  std::string store = cache_.storeName();
  cache_.startStat(m.objectId, [this, to, started, store](int ret, const ObjectStat &st) {
    metrics_.latency(OBJ_STAT, std::chrono::steady_clock::now() - started);
    if (ret == -ENOENT) return reply(to, ret, "no such object in the cache or the store " + store);
    if (ret < 0) return reply(to, ret, storeReason(ret));
    char buf[ObjectStat::WIRE_SIZE];
    Writer w(buf, sizeof buf);
    st.encode(w);
    replyData(to, buf, w.size());
  });
}

void FabricServer::handleList(Incoming &in, Reader &r) {
  ListRequest m;
  if (!decodePayload(r, m)) return reply(in.to, -EINVAL, "malformed OBJ_LIST");
  ReplyTo to = in.to;
  auto started = in.started;
  int ret = cache_.startList(m, [this, to, started](int ret, ListPage &page) {
    metrics_.latency(OBJ_LIST, std::chrono::steady_clock::now() - started);
    if (ret == -EINVAL) return reply(to, ret, "not a list cursor of this server");
    if (ret < 0) return reply(to, ret, storeReason(ret));
    std::vector<char> buf(EAGER_MAX);
    Writer w(buf.data(), buf.size());
    page.encode(w);
    if (!w.ok()) {  // cannot happen: MAX_ENTRIES and the cursor bound are chosen so that it fits
      log(LOG_ERROR, "protocol", "a list page of %zu entries does not fit a reply", page.entries.size());
      return reply(to, -EOVERFLOW, "the list page does not fit a reply");
    }
    replyData(to, buf.data(), w.size());
  });
  if (ret < 0) return reply(in.to, ret, "not a list cursor of this server");
  in.async = true;
}

void FabricServer::handleDelete(Incoming &in, Reader &r) {
  ObjectRequest m;
  if (!decodePayload(r, m)) return reply(in.to, -EINVAL, "malformed OBJ_DELETE");
  if (ranges_.anyOn(m.objectId)) return reply(in.to, -EBUSY, "a range of the object is registered (mapped)");
  int ret = cache_.startDelete(m.objectId, replyLater(in));
  if (ret == 0) return;  // answered once the store object is gone
  in.async = false;
  if (ret == SegmentCache::kBusy) return park(in);  // in use: handled again as the cache progresses
  if (ret == -ENOENT) return reply(in.to, ret, "no such object in the cache or the store " + cache_.storeName());
  reply(in.to, ret, storeReason(ret));
}

}  // namespace server
}  // namespace ioc
