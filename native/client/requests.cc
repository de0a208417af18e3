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

}  // namespace client
}  // namespace ioc
