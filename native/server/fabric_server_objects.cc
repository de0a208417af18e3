// FabricServer's object requests other than data: flush, create, copy-on-write, and the range
// registrations of mappings.
#include <errno.h>

#include <cstring>

#include "server/fabric_server.h"
#include "server/log.h"

namespace ioc {
namespace server {

using namespace proto;

int FabricServer::badRange(const Incoming &in, uint64_t offset, uint64_t size, const char *what) {
  int err = 0;
  if (offset + size < offset) err = -EINVAL;
  else if (offset + size > opts_.maxObjectSize) err = -EFBIG;
  if (err)
    log(LOG_WARN, "protocol", "refused %s from client %llu: range %llu+%llu %s", what,
        (unsigned long long)in.header.lfClientId, (unsigned long long)offset, (unsigned long long)size,
        err == -EINVAL ? "overflows" : "ends past --max-object-size");
  return err;
}

std::string FabricServer::storeReason(int ret) const {
  if (ret >= 0 || ret == -ENOENT || ret == -EEXIST || ret == -EBUSY || ret == -EINVAL || ret == -ETIMEDOUT ||
      ret == -ESHUTDOWN)
    return std::string();
  return "store " + cache_.storeName() + ": " + strerror(-ret);
}

std::function<void(int)> FabricServer::replyLater(Incoming &in) {
  in.async = true;
  ReplyTo to = in.to;
  uint64_t type = in.header.msgType;
  auto started = in.started;
  return [this, to, type, started](int ret) {
    reply(to, ret, storeReason(ret));
    metrics_.latency(type, std::chrono::steady_clock::now() - started);
  };
}

static std::string rangeReason(int err, uint64_t maxObjectSize) {
  return err == -EINVAL ? "the range overflows" : "ends past --max-object-size " + std::to_string(maxObjectSize);
}

void FabricServer::handleFlush(Incoming &in, Reader &r) {
  Flush m;
  if (!decodePayload(r, m)) return reply(in.to, -EINVAL, "malformed FLUSH");
  if (int err = badRange(in, m.offset, m.size, "FLUSH")) return reply(in.to, err, rangeReason(err, opts_.maxObjectSize));
  // The store works on its own threads; the ack goes out when it is done.
  cache_.startFlush(m.objectId, m.offset, m.size, replyLater(in));
}

void FabricServer::handleCreate(Incoming &in, Reader &r) {
  Create m;
  if (!decodePayload(r, m)) return reply(in.to, -EINVAL, "malformed CREATE");
  cache_.startCreate(m.objectId, replyLater(in));
}

void FabricServer::handleRegister(Incoming &in, Reader &r) {
  RegisterRange m;
  if (!decodePayload(r, m)) return reply(in.to, -EINVAL, "malformed RANGE_REGISTER");
  if (int err = badRange(in, m.offset, m.size, "RANGE_REGISTER"))
    return reply(in.to, err, rangeReason(err, opts_.maxObjectSize));
  if (cache_.deleting(m.objectId)) return park(in);  // registered before the delete or after it
  reply(in.to, ranges_.add(m.objectId, m.offset, m.size, m.write, in.client->tcpClientId));
}

void FabricServer::handleUnregister(Incoming &in, Reader &r) {
  UnregisterRange m;
  if (!decodePayload(r, m)) return reply(in.to, -EINVAL, "malformed RANGE_UNREGISTER");
  reply(in.to, ranges_.remove(m.id, m.objectId, m.offset, m.size, m.write, in.client->tcpClientId));
  countUnregisterForHoldHook();
}

void FabricServer::handleCow(Incoming &in, Reader &r) {
  Cow m;
  if (!decodePayload(r, m)) return reply(in.to, -EINVAL, "malformed COW");
  if (int err = badRange(in, m.rangeOffset, m.rangeSize, "COW")) return reply(in.to, err, rangeReason(err, opts_.maxObjectSize));
  int ret = cache_.cow(m.src, m.dst, m.allowExist, m.rangeOffset, m.rangeSize, replyLater(in));
  if (ret == 0) return;  // answered when the store threads are done
  in.async = false;
  if (ret == SegmentCache::kBusy) return park(in);
  reply(in.to, ret);
}

}  // namespace server
}  // namespace ioc
