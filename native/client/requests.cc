#include "client/requests.h"

#include <errno.h>

#include <cstring>

namespace ioc {
namespace client {

using namespace proto;

ReadWriteCall::ReadWriteCall(int64_t high, int64_t low, void *buf, size_t size, uint64_t offset, bool isWrite)
    : write(isWrite), buffer(buf) {
  msg.objectId.high = high;
  msg.objectId.low = low;
  msg.offset = offset;
  msg.size = size;
  if (eager()) {
    msg.msgHasData = write;
    msg.data = static_cast<const char *>(buf);
  }
}

int ReadWriteCall::onReply(Reader &r) {
  Response resp;
  if (!decodeResponse(r, resp)) return -EPROTO;
  if (resp.status < 0) return resp.status;
  if (!write && eager()) {
    if (!resp.msgHasData || resp.msgDataSize != msg.size) return -EPROTO;
    memcpy(buffer, resp.data, msg.size);
  }
  transferred = resp.msgDataSize ? (int64_t)resp.msgDataSize : (int64_t)msg.size;
  return 0;
}

PingCall::PingCall(size_t eagerSize, size_t rdmaSize) : data(eagerSize, EAGER_BYTE), rdma(rdmaSize, RMA_BYTE) {
  msg.eagerSize = eagerSize;
  msg.rdmaSize = rdmaSize;
  msg.data = data.data();
}

int PingCall::onReply(Reader &r) {
  Reader asResponse = r;
  Response resp;
  if (decodeResponse(asResponse, resp)) {  // the original's PONG (13 bytes; a Ping echo has >= 32)
    if (resp.status < 0) return resp.status;
    return resp.msgDataSize == 0 && !resp.msgHasData ? 0 : -EPROTO;
  }
  Ping back;
  if (!decodePayload(r, back)) return -EPROTO;
  return back.eagerSize == msg.eagerSize ? 0 : -EPROTO;
}

// The data of a successful namespace reply, decoded by payload (which must fill it exactly).
template <class Payload>
static int replyData(Reader &r, Payload &payload) {
  Response resp;
  if (!decodeResponse(r, resp)) return -EPROTO;
  if (resp.status < 0) return resp.status;
  if (!resp.msgHasData) return -EPROTO;
  Reader data(resp.data, resp.msgDataSize);
  return decodePayload(data, payload) ? 0 : -EPROTO;
}

StatCall::StatCall(int64_t high, int64_t low) {
  msg.objectId.high = high;
  msg.objectId.low = low;
}

int StatCall::onReply(Reader &r) {
  int ret = replyData(r, stat);
  if (ret < 0) return ret;
  return stat.objectId == msg.objectId ? 0 : -EPROTO;  // the answer about another object
}

DeleteCall::DeleteCall(int64_t high, int64_t low) {
  msg.objectId.high = high;
  msg.objectId.low = low;
}

int DeleteCall::onReply(Reader &r) {
  Response resp;
  if (!decodeResponse(r, resp)) return -EPROTO;
  return resp.status < 0 ? resp.status : 0;
}

int ListCall::onReply(Reader &r) {
  int ret = replyData(r, page);
  if (ret < 0) return ret;
  // A page that is not the last must say where the next one starts, or the listing never ends.
  return page.end || !page.next.empty() ? 0 : -EPROTO;
}

std::string namespaceRefusal(const Connection &conn, const std::string &serverName) {
  if (conn.features() & FEATURE_NAMESPACE) return "";
  if (!conn.hasServerInfo())
    return serverName + " is an original iocatcher server: it has no object namespace (stat, list, delete)";
  return serverName + " is an iocatcher server without the namespace extension (stat, list, delete): upgrade it";
}

}  // namespace client
}  // namespace ioc
