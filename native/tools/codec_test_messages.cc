// Codec cases of the original protocol's messages: the exact v2 layout of every type, and the
// oversized, truncated and malformed ones rejected.
#include <cstring>

#include "tools/codec_test.h"

namespace codec_test {

void messageCases() {
  expect(sizeof(Header) == 32, "header is 32 bytes");
  ObjectId oid;
  oid.low = 0x1122334455667788;
  oid.high = -5;
  Iov iov;
  iov.addr = 0xdeadbeef000;
  iov.key = 42;

  {
    ReadWrite m;
    m.objectId = oid;
    m.iov = iov;
    m.offset = 123;
    m.size = 1 << 20;
    roundTrip<ReadWrite>("OBJ_READ", OBJ_READ, m, 32 + 49, [&](const ReadWrite &o) {
      return o.objectId == oid && o.iov.addr == iov.addr && o.iov.key == 42 && o.offset == 123 && o.size == (1u << 20) &&
             !o.msgHasData;
    });
    std::string data = "hello iocatcher";
    m.size = data.size();
    m.msgHasData = true;
    m.data = data.data();
    roundTrip<ReadWrite>("OBJ_WRITE eager", OBJ_WRITE, m, 32 + 49 + data.size(), [&](const ReadWrite &o) {
      return o.msgHasData && o.size == data.size() && memcmp(o.data, data.data(), data.size()) == 0;
    });
    // Layout check against the original: ObjectId is low then high, right after the header.
    std::vector<char> buf = encode(OBJ_WRITE, m);
    int64_t low, high;
    memcpy(&low, buf.data() + 32, 8);
    memcpy(&high, buf.data() + 40, 8);
    expect(low == oid.low && high == oid.high, "ObjectId layout: int64 low, int64 high");
    // Oversized: inline data above 32 KiB is rejected even when the bytes are there.
    std::vector<char> big(EAGER_MAX + 1, 'x');
    m.size = big.size();
    m.data = big.data();
    std::vector<char> enc = encode(OBJ_WRITE, m);
    ReadWrite t;
    expect(!enc.empty() && !decode(enc, enc.size(), t), "OBJ_WRITE with more than 32 KiB inline rejected");
    // A declared size larger than the bytes present is rejected.
    m.size = 1000;
    m.data = big.data();
    enc = encode(OBJ_WRITE, m);
    uint64_t lie = 2000;
    memcpy(enc.data() + 32 + 40, &lie, 8);
    expect(!decode(enc, enc.size(), t), "OBJ_WRITE whose size exceeds its data rejected");
    // A bool byte other than 0/1 is rejected.
    m.msgHasData = false;
    enc = encode(OBJ_READ, m);
    enc[32 + 48] = 7;
    expect(!decode(enc, enc.size(), t), "bool byte 7 rejected");
  }
  {
    Flush m;
    m.objectId = oid;
    m.offset = 5;
    m.size = 0;
    roundTrip<Flush>("FLUSH", FLUSH, m, 32 + 32,
                     [&](const Flush &o) { return o.objectId == oid && o.offset == 5 && o.size == 0; });
  }
  {
    Create m;
    m.objectId = oid;
    roundTrip<Create>("CREATE", CREATE, m, 32 + 16, [&](const Create &o) { return o.objectId == oid; });
  }
  {
    RegisterRange m;
    m.objectId = oid;
    m.offset = 10;
    m.size = 20;
    m.write = true;
    roundTrip<RegisterRange>("RANGE_REGISTER", RANGE_REGISTER, m, 32 + 33, [&](const RegisterRange &o) {
      return o.objectId == oid && o.offset == 10 && o.size == 20 && o.write;
    });
  }
  {
    UnregisterRange m;
    m.objectId = oid;
    m.offset = 10;
    m.size = 20;
    m.id = 3;
    m.write = false;
    roundTrip<UnregisterRange>("RANGE_UNREGISTER", RANGE_UNREGISTER, m, 32 + 37, [&](const UnregisterRange &o) {
      return o.objectId == oid && o.offset == 10 && o.size == 20 && o.id == 3 && !o.write;
    });
  }
  {
    Cow m;
    m.src = oid;
    m.dst.low = 1;
    m.dst.high = 2;
    m.allowExist = true;
    m.rangeOffset = 4096;
    m.rangeSize = 8192;
    roundTrip<Cow>("COW", COW, m, 32 + 49, [&](const Cow &o) {
      return o.src == oid && o.dst.low == 1 && o.dst.high == 2 && o.allowExist && o.rangeOffset == 4096 &&
             o.rangeSize == 8192;
    });
  }
  for (uint64_t type : {READ_WRITE_ACK, FLUSH_ACK, CREATE_ACK, RANGE_REGISTER_ACK, RANGE_UNREGISTER_ACK, COW_ACK, BAD_AUTH}) {
    Response m;
    m.msgDataSize = 99;
    m.status = -16;
    roundTrip<Response>(msgTypeName(type), type, m, 32 + 13,
                        [&](const Response &o) { return o.msgDataSize == 99 && o.status == -16 && !o.msgHasData; });
  }
  {
    std::string data(1000, 'r');
    Response m;
    m.msgDataSize = data.size();
    m.msgHasData = true;
    m.data = data.data();
    roundTrip<Response>("READ_WRITE_ACK with data", READ_WRITE_ACK, m, 32 + 13 + 1000, [&](const Response &o) {
      return o.msgHasData && o.msgDataSize == 1000 && memcmp(o.data, data.data(), 1000) == 0;
    });
    std::vector<char> big(EAGER_MAX + 1);
    m.msgDataSize = big.size();
    m.data = big.data();
    std::vector<char> enc = encode(READ_WRITE_ACK, m);
    Response t;
    expect(!decode(enc, enc.size(), t), "response with more than 32 KiB inline rejected");
  }
  {
    FirstHandshake m;
    m.assignLfClientId = 77;
    roundTrip<FirstHandshake>("ASSIGN_ID", ASSIGN_ID, m, 32 + 12, [&](const FirstHandshake &o) {
      return o.protocolVersion == PROTOCOL_VERSION && o.assignLfClientId == 77 && !o.hasServerInfo;
    });
    // Our extension: epoch + durability appended after the original payload.
    m.hasServerInfo = true;
    m.serverEpoch = 0x1234567890abcdefull;
    m.durableWrites = true;
    roundTrip<FirstHandshake>("ASSIGN_ID with server info", ASSIGN_ID, m, 32 + 12 + 9, [&](const FirstHandshake &o) {
      return o.assignLfClientId == 77 && o.hasServerInfo && o.serverEpoch == m.serverEpoch && o.durableWrites;
    });
  }
  {
    FirstClientMessage m;
    for (int i = 0; i < 16; i++) m.addr[i] = (char)(i + 1);
    roundTrip<FirstClientMessage>("CONNECT_INIT", CONNECT_INIT, m, 32 + 32, [&](const FirstClientMessage &o) {
      return o.addrLen == 32 && memcmp(o.addr, m.addr, 32) == 0;
    });
    std::vector<char> big(32 + CLIENT_ADDR_MAX + 1, 1);
    FirstClientMessage t;
    expect(!decode(big, big.size(), t), "CONNECT_INIT with an oversized address rejected");
    expect(!decode(big, 32, t), "CONNECT_INIT without an address rejected");
  }
  {
    ErrorMessage m;
    m.message = "server shutting down";
    roundTrip<ErrorMessage>("FATAL_ERROR", FATAL_ERROR, m, 32 + 8 + m.message.size() + 1,
                            [&](const ErrorMessage &o) { return o.message == m.message; });
    std::vector<char> enc = encode(FATAL_ERROR, m);
    uint64_t huge = 1ull << 40;
    memcpy(enc.data() + 32, &huge, 8);
    ErrorMessage t;
    expect(!decode(enc, enc.size(), t), "string with a huge length rejected");
    enc = encode(FATAL_ERROR, m);
    enc.back() = 'x';
    expect(!decode(enc, enc.size(), t), "string without its NUL rejected");
  }
  for (uint64_t type : {PING, PONG}) {
    std::string data(64, 'p');
    Ping m;
    m.rdmaSize = 4096;
    m.eagerSize = data.size();
    m.iov = iov;
    m.data = data.data();
    roundTrip<Ping>(msgTypeName(type), type, m, 32 + 32 + 64, [&](const Ping &o) {
      return o.rdmaSize == 4096 && o.eagerSize == 64 && o.iov.key == 42 && memcmp(o.data, data.data(), 64) == 0;
    });
  }
  {
    TcpHandshake m;
    m.clientId = 5;
    m.clientKey = 0xabcdef;
    m.keepConnection = true;
    char buf[64];
    Writer w(buf, sizeof buf);
    m.encode(w);
    TcpHandshake o;
    Reader r(buf, w.size());
    expect(w.size() == 19 && o.decode(r) && r.done() && o.version == 2 && o.clientId == 5 && o.clientKey == 0xabcdef &&
               o.keepConnection,
           "TCP handshake: 19 bytes round trip");
  }
  {
    char small[8];
    Writer w(small, sizeof small);
    Header h;
    h.encode(w);
    expect(!w.ok(), "encoding into a too-small buffer fails instead of overflowing");
  }
}

}  // namespace codec_test
