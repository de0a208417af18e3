// iocatcher-live-fuzz's check after the fuzzing: a fresh, well-behaved connection still writes,
// reads, flushes, pings, stats, lists and deletes correctly.
#include <unistd.h>

#include <cstring>

#include "tools/live_fuzz_client.h"

namespace live_fuzz {

// Eager and RMA writes read back, flush, ping, stat, list, delete.
bool checkServer(const std::string &ip, const std::string &port, std::string &why) {
  RawClient c(ip, port);
  ObjectId id;
  id.high = 0x636865636b;  // "check"
  id.low = (int64_t)getpid();
  auto expect = [&](const std::vector<char> &msg, uint64_t ackType, int wantStatus, const char *what) {
    if (!c.send(msg)) {
      why = std::string(what) + ": send failed";
      return false;
    }
    Message reply;
    if (!c.waitFor(ackType, 10000, reply)) {
      why = std::string(what) + ": no reply";
      return false;
    }
    int st = replyStatus(reply);
    if (st != wantStatus) {
      why = std::string(what) + ": status " + std::to_string(st);
      return false;
    }
    return true;
  };
  std::vector<char> small(3000);
  for (size_t i = 0; i < small.size(); i++) small[i] = (char)(i * 7 + 1);
  ReadWrite w;
  w.objectId = id;
  w.offset = 123;
  w.size = small.size();
  w.msgHasData = true;
  w.data = small.data();
  if (!expect(messageBytes(c.header(OBJ_WRITE), w), READ_WRITE_ACK, 0, "eager write")) return false;
  // RMA write then read of 1 MiB + 17 through a registered buffer.
  size_t big = (1 << 20) + 17;
  std::vector<char> src(big), dst(big, 0);
  for (size_t i = 0; i < big; i++) src[i] = (char)(i * 13 + 5);
  fabric::Transport &t = c.transport();
  fabric::MemoryRegion mr1(t.domain, t.info, src.data(), big, FI_REMOTE_READ | FI_REMOTE_WRITE, 1001);
  fabric::MemoryRegion mr2(t.domain, t.info, dst.data(), big, FI_REMOTE_READ | FI_REMOTE_WRITE, 1002);
  ReadWrite bw;
  bw.objectId = id;
  bw.offset = 5000;
  bw.size = big;
  bw.iov.addr = mr1.remoteAddr();
  bw.iov.key = mr1.key();
  if (!expect(messageBytes(c.header(OBJ_WRITE), bw), READ_WRITE_ACK, 0, "rma write")) return false;
  ReadWrite br = bw;
  br.iov.addr = mr2.remoteAddr();
  br.iov.key = mr2.key();
  if (!expect(messageBytes(c.header(OBJ_READ), br), READ_WRITE_ACK, 0, "rma read")) return false;
  if (memcmp(src.data(), dst.data(), big) != 0) {
    why = "rma read returned other bytes";
    return false;
  }
  ReadWrite r = w;
  r.msgHasData = false;
  if (!c.send(messageBytes(c.header(OBJ_READ), r))) return why = "eager read: send failed", false;
  Message reply;
  if (!c.waitFor(READ_WRITE_ACK, 10000, reply)) return why = "eager read: no reply", false;
  Reader rr(reply.bytes.data(), reply.bytes.size());
  Header rh;
  Response resp;
  rh.decode(rr);
  if (!decodeResponse(rr, resp) || resp.status != 0 || !resp.msgHasData || resp.msgDataSize != small.size() ||
      memcmp(resp.data, small.data(), small.size()) != 0)
    return why = "eager read returned other bytes", false;
  WritePieces wp;
  wp.objectId = id;
  wp.pieces = {{0, (uint32_t)small.size(), (const char *)small.data()}, {1 << 20, (uint32_t)small.size(), (const char *)small.data()}};
  if (!expect(messageBytes(c.header(OBJ_WRITE_PIECES), wp), READ_WRITE_ACK, 0, "write pieces")) return false;
  Flush f;
  f.objectId = id;
  if (!expect(messageBytes(c.header(FLUSH), f), FLUSH_ACK, 0, "flush")) return false;
  Ping p;
  p.eagerSize = 100;
  p.data = small.data();
  if (!expect(messageBytes(c.header(PING), p), PONG, 0, "ping")) return false;
  // The namespace: the object is there, a listing page answers, the delete takes it away.
  ObjectRequest o;
  o.objectId = id;
  if (!expect(messageBytes(c.header(OBJ_STAT), o), OBJ_STAT_ACK, 0, "stat")) return false;
  ListRequest l;
  l.filterHigh = true;
  l.high = id.high;
  if (!expect(messageBytes(c.header(OBJ_LIST), l), OBJ_LIST_ACK, 0, "list")) return false;
  if (!expect(messageBytes(c.header(OBJ_DELETE), o), OBJ_DELETE_ACK, 0, "delete")) return false;
  if (!expect(messageBytes(c.header(OBJ_STAT), o), OBJ_STAT_ACK, -ENOENT, "stat after the delete")) return false;
  return true;
}

}  // namespace live_fuzz
