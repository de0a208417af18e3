// iocatcher-live-fuzz's case mode (usage: live_fuzz.cc): one deliberately bad request, its
// reply, and whether the connection is still served afterwards.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "tools/live_fuzz_client.h"

namespace live_fuzz {

int runCase(const std::string &ip, const std::string &port, const std::string &name) {
  RawClient c(ip, port);
  ObjectId id;
  id.high = 0x636173;  // "cas"
  id.low = (int64_t)getpid();
  std::vector<char> msg;
  uint64_t expectReply = READ_WRITE_ACK;
  std::vector<char> buf(1 << 20, 'b');
  fabric::Transport &t = c.transport();
  fabric::MemoryRegion mr(t.domain, t.info, buf.data(), buf.size(), FI_REMOTE_READ | FI_REMOTE_WRITE, 4242);
  std::unique_ptr<RawClient> other;
  if (name == "unknown-type") {
    Create m;
    m.objectId = id;
    msg = messageBytes(c.header(999), m);
    expectReply = 0;  // any
  } else if (name == "overflow-read") {
    ReadWrite m;
    m.objectId = id;
    m.offset = ~0ull - 10;
    m.size = 100;
    msg = messageBytes(c.header(OBJ_READ), m);
  } else if (name == "overflow-flush") {
    Flush m;
    m.objectId = id;
    m.offset = ~0ull - 10;
    m.size = 100;
    msg = messageBytes(c.header(FLUSH), m);
    expectReply = FLUSH_ACK;
  } else if (name == "overflow-register") {
    RegisterRange m;
    m.objectId = id;
    m.offset = ~0ull - 10;
    m.size = 100;
    m.write = true;
    msg = messageBytes(c.header(RANGE_REGISTER), m);
    expectReply = RANGE_REGISTER_ACK;
  } else if (name == "overflow-cow") {
    Cow m;
    m.src = id;
    m.dst = id;
    m.dst.low++;
    m.allowExist = true;
    m.rangeOffset = ~0ull - 10;
    m.rangeSize = 100;
    msg = messageBytes(c.header(COW), m);
    expectReply = COW_ACK;
  } else if (name == "big-read" || name == "bad-rma-key-read" || name == "bad-rma-key-write" ||
             name == "bad-rma-addr-write") {
    ReadWrite m;
    m.objectId = id;
    m.size = buf.size();
    m.iov.addr = mr.remoteAddr();
    m.iov.key = mr.key();
    if (name == "bad-rma-key-read" || name == "bad-rma-key-write") m.iov.key ^= 0x5a5a5a5a;
    if (name == "bad-rma-addr-write") m.iov.addr += 1ull << 40;
    msg = messageBytes(c.header(name == "bad-rma-key-write" || name == "bad-rma-addr-write" ? OBJ_WRITE : OBJ_READ), m);
  } else if (name == "big-eager") {
    ReadWrite m;
    m.objectId = id;
    m.size = 16384;
    m.msgHasData = true;
    m.data = buf.data();
    msg = messageBytes(c.header(OBJ_WRITE), m);
  } else if (name == "far-write") {
    ReadWrite m;
    m.objectId = id;
    m.offset = 1ull << 40;
    m.size = 1;
    m.msgHasData = true;
    m.data = buf.data();
    msg = messageBytes(c.header(OBJ_WRITE), m);
  } else if (name == "foreign-lf-id" || name == "foreign-tcp-id") {
    other.reset(new RawClient(ip, port));
    Create m;
    m.objectId = id;
    Header h = c.header(CREATE);
    if (name == "foreign-lf-id") h.lfClientId = other->lfId();
    else h.tcpClientId = other->tcp().clientId;  // with our own key
    msg = messageBytes(h, m);
    expectReply = BAD_AUTH;
  } else if (name == "unknown-lf-id") {
    Create m;
    m.objectId = id;
    Header h = c.header(CREATE);
    h.lfClientId = 0x7fffffff12345ull;
    msg = messageBytes(h, m);
    expectReply = BAD_AUTH;
  } else if (name == "bad-address" || name == "same-address") {
    // CONNECT_INIT with an address of another family (bad-address), or our own again.
    FirstClientMessage m = c.firstMessage();
    if (name == "bad-address") m.addr[0] ^= 0x33;
    msg = messageBytes(c.header(CONNECT_INIT), m);
    expectReply = name == "bad-address" ? ERROR_ACK : ASSIGN_ID;
  } else if (name == "dead-addresses") {
    // Ten CONNECT_INITs naming addresses nobody answers at (a closed port on loopback, and a
    // TEST-NET-1 address): the server must not wait on them, or every other client would wait too.
    // Our own ping afterwards must be answered as usual.
    for (int i = 0; i < 10; i++) {
      FirstClientMessage m = c.firstMessage();
      sockaddr_in sin;
      memcpy(&sin, m.addr, sizeof sin);
      sin.sin_port = htons((uint16_t)(9 + i));  // discard, daytime...: closed here
      if (i % 2) inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
      memcpy(m.addr, &sin, sizeof sin);
      if (!c.send(messageBytes(c.header(CONNECT_INIT), m))) {
        printf("send failed\n");
        return 1;
      }
    }
    printf("sent=10\n");
    fflush(stdout);
    msg.clear();
  } else if (name == "stalled-read" || name == "stalled-write") {
    // A 64 MiB RMA read (or write) that can never complete: we never progress our endpoint again (more
    // than the socket buffers hold), as a stopped client would. Sleeps until killed.
    static std::vector<char> big(64u << 20);
    fabric::MemoryRegion bigMr(t.domain, t.info, big.data(), big.size(), FI_REMOTE_READ | FI_REMOTE_WRITE, 4545);
    ReadWrite m;
    m.objectId = id;
    m.size = big.size();
    m.iov.addr = bigMr.remoteAddr();
    m.iov.key = bigMr.key();
    if (!c.send(messageBytes(c.header(name == "stalled-read" ? OBJ_READ : OBJ_WRITE), m))) {
      printf("send failed\n");
      return 1;
    }
    printf("stalled\n");
    fflush(stdout);
    for (;;) pause();
  } else if (name == "truncated-payload") {
    Create m;
    m.objectId = id;
    msg = messageBytes(c.header(CREATE), m);
    msg.resize(msg.size() - 3);
    expectReply = CREATE_ACK;
  } else {
    fprintf(stderr, "unknown case %s\n", name.c_str());
    return 2;
  }
  if (!msg.empty() && !c.send(msg)) {
    printf("send failed\n");
    return 1;
  }
  Message reply;
  bool got = msg.empty() || (expectReply ? c.waitFor(expectReply, 5000, reply) : c.waitAny(5000, reply));
  if (msg.empty()) {
    // nothing to wait for
  } else if (!got) {
    printf("status=none\n");
  } else {
    printf("status=%d reply=%s\n", reply.h.msgType == BAD_AUTH ? -1 : replyStatus(reply),
           reply.h.msgType == ERROR_ACK ? "ERROR_ACK" : msgTypeName(reply.h.msgType));
  }
  if (other) {
    // The other client must not have received anything about our request.
    Message stray;
    printf("other-received=%d\n", other->waitAny(500, stray) ? 1 : 0);
  }
  // Still served afterwards on the same connection.
  bool alive = c.answersPing(4, 4000);
  printf("alive=%d\n", alive ? 1 : 0);
  if (name == "bad-rma-key-write" || name == "bad-rma-addr-write") {
    // A failed RMA write must leave the object as it was (zeros: never written).
    std::vector<char> back(buf.size(), 'x');
    fabric::MemoryRegion mr2(t.domain, t.info, back.data(), back.size(), FI_REMOTE_READ | FI_REMOTE_WRITE, 4343);
    ReadWrite m;
    m.objectId = id;
    m.size = back.size();
    m.iov.addr = mr2.remoteAddr();
    m.iov.key = mr2.key();
    bool readOk = false;
    for (int attempt = 0; attempt < 3 && !readOk; attempt++) {
      Message r2;
      c.inbox().clear();
      readOk = c.send(messageBytes(c.header(OBJ_READ), m)) && c.waitFor(READ_WRITE_ACK, 4000, r2) && replyStatus(r2) == 0;
    }
    bool zeros = readOk;
    for (char ch : back) zeros = zeros && ch == 0;
    printf("unchanged=%d\n", zeros ? 1 : 0);
  }
  return 0;
}

}  // namespace live_fuzz
