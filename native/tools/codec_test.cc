// Unit test of the wire codec (native/fabric/protocol.*): every message type round-trips with
// the exact v2 layout; truncated, oversized and trailing-garbage messages are rejected.
// Prints one line per case and "N passed, M failed".
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "fabric/protocol.h"

using namespace ioc::proto;

static int passed = 0, failed = 0;
static void expect(bool ok, const std::string &name) {
  printf("%s %s\n", ok ? "ok  " : "FAIL", name.c_str());
  (ok ? passed : failed)++;
}

template <class P>
static std::vector<char> encode(uint64_t type, const P &p) {
  std::vector<char> buf(MSG_BUFFER_SIZE + 1024);
  Header h;
  h.msgType = type;
  h.lfClientId = 7;
  h.tcpClientId = 8;
  h.tcpClientKey = 9;
  size_t n = encodeMessage(buf.data(), buf.size(), h, p);
  buf.resize(n);
  return buf;
}

template <class P>
static bool decode(const std::vector<char> &buf, size_t len, P &out, Header *hOut = nullptr) {
  Reader r(buf.data(), len);
  Header h;
  if (!h.decode(r)) return false;
  if (hOut) *hOut = h;
  return decodePayload(r, out);
}

// Round trip + every strict prefix rejected + one trailing byte rejected.
template <class P>
static void roundTrip(const char *name, uint64_t type, const P &in, size_t expectedSize,
                      const std::function<bool(const P &)> &same) {
  std::vector<char> buf = encode(type, in);
  expect(buf.size() == expectedSize, std::string(name) + ": wire size " + std::to_string(buf.size()) + " == " +
                                         std::to_string(expectedSize));
  P out;
  Header h;
  bool ok = decode(buf, buf.size(), out, &h);
  expect(ok && same(out) && h.msgType == type && h.lfClientId == 7 && h.tcpClientId == 8 && h.tcpClientKey == 9,
         std::string(name) + ": round trip");
  bool allTruncatedRejected = true;
  for (size_t len = 0; len < buf.size(); len++) {
    P t;
    // FirstClientMessage has a variable tail: any non-empty prefix of the address is a valid address.
    if (type == CONNECT_INIT && len > Header::WIRE_SIZE) continue;
    // ASSIGN_ID cut before its extension is an original server's ASSIGN_ID (before its clock, an older iocatcher-ts one).
    if (type == ASSIGN_ID && (len == Header::WIRE_SIZE + 12 || len == Header::WIRE_SIZE + 21)) continue;
    if (decode(buf, len, t)) allTruncatedRejected = false;
  }
  expect(allTruncatedRejected, std::string(name) + ": every truncated prefix rejected");
  if (type != CONNECT_INIT) {
    std::vector<char> longer = buf;
    longer.push_back(0);
    P t;
    expect(!decode(longer, longer.size(), t), std::string(name) + ": trailing byte rejected");
  }
}

// A message with a RequestTrailer appended: splitRequestTrailer finds it only where the payload
// ends, and the rest decodes as before.
template <class P>
static std::vector<char> withTrailer(uint64_t type, const P &p, uint64_t sequence) {
  std::vector<char> buf = encode(type, p);
  size_t n = buf.size();
  buf.resize(n + RequestTrailer::WIRE_SIZE);
  Writer w(buf.data() + n, RequestTrailer::WIRE_SIZE);
  RequestTrailer t;
  t.sequence = sequence;
  t.encode(w);
  return buf;
}

static void requestTrailerCases() {
  std::vector<char> data(EAGER_MAX);
  for (size_t i = 0; i < data.size(); i++) data[i] = (char)(i * 13 + 1);
  ReadWrite rw;
  rw.objectId.high = 3;
  rw.objectId.low = 4;
  rw.offset = 99;
  rw.size = 16;
  {
    std::vector<char> buf = withTrailer(OBJ_READ, rw, 0x1234);
    uint64_t seq;
    size_t len = splitRequestTrailer(buf.data(), buf.size(), seq);
    ReadWrite o;
    expect(len == 32 + 49 && seq == 0x1234 && decode(buf, len, o) && o.offset == 99 && o.size == 16,
           "trailer: OBJ_READ + 16 bytes, sequence found, payload decodes as before");
  }
  {
    rw.size = EAGER_MAX;
    rw.msgHasData = true;
    rw.data = data.data();
    std::vector<char> buf = withTrailer(OBJ_WRITE, rw, 77);
    uint64_t seq;
    size_t len = splitRequestTrailer(buf.data(), buf.size(), seq);
    ReadWrite o;
    expect(buf.size() <= MSG_BUFFER_SIZE && len == 32 + 49 + EAGER_MAX && seq == 77 && decode(buf, len, o) &&
               memcmp(o.data, data.data(), EAGER_MAX) == 0,
           "trailer: eager OBJ_WRITE of 32 KiB, trailer after the inline data, message fits the buffer");
  }
  {
    // Inline data ending with what looks like a trailer, sent without one (an original client):
    // the payload reaches the end of the message, so nothing is taken away.
    rw.size = 64;
    RequestTrailer fake;
    fake.sequence = 5;
    Writer w(data.data() + 48, 16);
    fake.encode(w);
    std::vector<char> buf = encode(OBJ_WRITE, rw);
    uint64_t seq;
    size_t len = splitRequestTrailer(buf.data(), buf.size(), seq);
    expect(len == buf.size() && seq == 0, "trailer: inline data ending with the magic is data, not a trailer");
  }
  {
    Flush f;
    f.size = 8;
    std::vector<char> plain = encode(FLUSH, f);
    uint64_t seq = 1;
    expect(splitRequestTrailer(plain.data(), plain.size(), seq) == plain.size() && seq == 0,
           "trailer: a message without one is left whole");
    std::vector<char> buf = withTrailer(FLUSH, f, 9);
    buf[buf.size() - 9] ^= 1;  // magic damaged
    expect(splitRequestTrailer(buf.data(), buf.size(), seq) == buf.size() && seq == 0,
           "trailer: a wrong magic is not a trailer");
    buf = withTrailer(FLUSH, f, 9);
    buf.push_back(0);  // one byte after the trailer
    expect(splitRequestTrailer(buf.data(), buf.size(), seq) == buf.size() && seq == 0,
           "trailer: not at the very end, not a trailer (the payload then fails as trailing garbage)");
    buf = withTrailer(FLUSH, f, 9);
    buf.erase(buf.begin() + 40);  // payload one byte short: the trailer is not where it ends
    expect(splitRequestTrailer(buf.data(), buf.size(), seq) == buf.size() && seq == 0,
           "trailer: after a truncated payload, not a trailer");
  }
  {
    Cow c;
    c.allowExist = true;
    c.rangeSize = 10;
    UnregisterRange u;
    u.id = 3;
    Ping p;
    p.eagerSize = 8;
    p.data = data.data();
    uint64_t a, b, d, e;
    std::vector<char> m1 = withTrailer(COW, c, 11), m2 = withTrailer(RANGE_UNREGISTER, u, 12),
                      m3 = withTrailer(PING, p, 13), m4 = withTrailer(CREATE, Create(), 14);
    expect(splitRequestTrailer(m1.data(), m1.size(), a) == m1.size() - 16 && a == 11 &&
               splitRequestTrailer(m2.data(), m2.size(), b) == m2.size() - 16 && b == 12 &&
               splitRequestTrailer(m3.data(), m3.size(), d) == m3.size() - 16 && d == 13 &&
               splitRequestTrailer(m4.data(), m4.size(), e) == m4.size() - 16 && e == 14,
           "trailer: found after COW, RANGE_UNREGISTER, PING and CREATE");
    FirstClientMessage fc;
    fc.addrLen = 48;
    std::vector<char> m5 = withTrailer(CONNECT_INIT, fc, 15);
    expect(splitRequestTrailer(m5.data(), m5.size(), a) == m5.size() && a == 0,
           "trailer: never taken from CONNECT_INIT (its address is the rest of the message)");
  }
  {
    // Fencing: a RequestDeadline between a write's payload and its trailer.
    rw.size = 40;
    rw.msgHasData = true;
    rw.data = data.data();
    std::vector<char> buf = encode(OBJ_WRITE, rw);
    size_t payloadEnd = buf.size();
    buf.resize(payloadEnd + RequestDeadline::WIRE_SIZE + RequestTrailer::WIRE_SIZE);
    Writer w(buf.data() + payloadEnd, buf.size() - payloadEnd);
    RequestDeadline d;
    d.serverNs = 123456789;
    d.encode(w);
    RequestTrailer t;
    t.sequence = 31;
    t.encode(w);
    uint64_t seq;
    int64_t ns = 0;
    ReadWrite o;
    size_t len = splitRequestTrailer(buf.data(), buf.size(), seq, &ns);
    expect(len == payloadEnd && seq == 31 && ns == 123456789 && decode(buf, len, o) && o.size == 40,
           "deadline: found before the trailer, payload decodes as before");
    expect(splitRequestTrailer(buf.data(), buf.size(), seq) == buf.size() && seq == 0,
           "deadline: a reader that does not take deadlines leaves the message whole (refused as trailing bytes)");
    // Inline data ending with what looks like a deadline block: data, not a deadline.
    rw.size = 64;
    Writer fw(data.data() + 48, 16);
    d.encode(fw);
    std::vector<char> m = withTrailer(OBJ_WRITE, rw, 32);
    len = splitRequestTrailer(m.data(), m.size(), seq, &ns);
    expect(len == m.size() - 16 && seq == 32 && ns == 0 && decode(m, len, o) && o.size == 64,
           "deadline: inline data ending with the magic is data");
  }
  {
    FirstHandshake m;
    m.assignLfClientId = 5;
    m.hasServerInfo = true;
    m.serverEpoch = 9;
    m.fencing = true;
    m.serverClockNs = 0x1122334455667788ll;
    roundTrip<FirstHandshake>("ASSIGN_ID with server info and clock", ASSIGN_ID, m, 32 + 12 + 9 + 8, [&](const FirstHandshake &o) {
      return o.hasServerInfo && o.serverEpoch == 9 && o.fencing && o.serverClockNs == m.serverClockNs;
    });
  }
  {
    Header h;
    uint64_t seq = 0;
    expect(!h.echo(seq), "echo: a plain header carries none");
    h.setEcho(0xfeedull);
    char buf[32];
    Writer w(buf, sizeof buf);
    h.encode(w);
    Reader r(buf, sizeof buf);
    Header o;
    expect(o.decode(r) && o.echo(seq) && seq == 0xfeedull, "echo: the sequence survives the header round trip");
    h.setEcho(0);
    expect(!h.echo(seq) && h.tcpClientId == 0 && h.tcpClientKey == 0, "echo: sequence 0 leaves the fields empty");
  }
}

// A payload that travels inside a Response's data (no header): round trip, every strict prefix
// and one trailing byte rejected.
template <class P>
static std::vector<char> rawRoundTrip(const std::string &name, const P &in, size_t expectedSize,
                                      const std::function<bool(const P &)> &same) {
  std::vector<char> buf(MSG_BUFFER_SIZE);
  Writer w(buf.data(), buf.size());
  in.encode(w);
  buf.resize(w.ok() ? w.size() : 0);
  expect(buf.size() == expectedSize, name + ": wire size " + std::to_string(buf.size()) + " == " + std::to_string(expectedSize));
  P out;
  Reader r(buf.data(), buf.size());
  expect(decodePayload(r, out) && same(out), name + ": round trip");
  bool allTruncatedRejected = true;
  for (size_t len = 0; len < buf.size(); len++) {
    P t;
    Reader tr(buf.data(), len);
    if (decodePayload(tr, t)) allTruncatedRejected = false;
  }
  expect(allTruncatedRejected, name + ": every truncated prefix rejected");
  std::vector<char> longer = buf;
  longer.push_back(0);
  P t;
  Reader lr(longer.data(), longer.size());
  expect(!decodePayload(lr, t), name + ": trailing byte rejected");
  return buf;
}

static bool sameStat(const ObjectStat &a, const ObjectStat &b) {
  return a.objectId == b.objectId && a.size == b.size && a.storedBytes == b.storedBytes &&
         a.cachedBytes == b.cachedBytes && a.dirtyBytes == b.dirtyBytes && a.stored == b.stored;
}

static void namespaceCases() {
  ObjectId oid;
  oid.low = -3;
  oid.high = 0x7fffffffffffffffll;
  for (uint64_t type : {OBJ_STAT, OBJ_DELETE}) {
    ObjectRequest m;
    m.objectId = oid;
    roundTrip<ObjectRequest>(msgTypeName(type), type, m, 32 + 16, [&](const ObjectRequest &o) { return o.objectId == oid; });
  }
  {
    ListRequest m;
    roundTrip<ListRequest>("OBJ_LIST from the start", OBJ_LIST, m, 32 + 9 + 1 + 8 + 4, [&](const ListRequest &o) {
      return o.cursor.empty() && !o.filterHigh && o.high == 0 && o.maxEntries == 0;
    });
    m.cursor = "s:1efce248700a9a17";
    m.filterHigh = true;
    m.high = -9;
    m.maxEntries = ListPage::MAX_ENTRIES;
    roundTrip<ListRequest>("OBJ_LIST with a cursor and a filter", OBJ_LIST, m, 32 + 9 + m.cursor.size() + 1 + 8 + 4,
                           [&](const ListRequest &o) {
                             return o.cursor == m.cursor && o.filterHigh && o.high == -9 && o.maxEntries == m.maxEntries;
                           });
    std::vector<char> enc = encode(OBJ_LIST, m);
    enc[32 + 8 + m.cursor.size() + 1] = 2;
    ListRequest t;
    expect(!decode(enc, enc.size(), t), "OBJ_LIST: filter bool byte 2 rejected");
    m.cursor.assign(ListRequest::CURSOR_MAX, 'c');
    enc = encode(OBJ_LIST, m);
    expect(decode(enc, enc.size(), t) && t.cursor.size() == ListRequest::CURSOR_MAX, "OBJ_LIST: a cursor of CURSOR_MAX accepted");
    m.cursor.push_back('c');
    enc = encode(OBJ_LIST, m);
    expect(!enc.empty() && !decode(enc, enc.size(), t), "OBJ_LIST: a cursor longer than CURSOR_MAX rejected");
  }
  ObjectStat st;
  st.objectId = oid;
  st.size = 1ull << 40;
  st.storedBytes = 12345;
  st.cachedBytes = 8 << 20;
  st.dirtyBytes = 4096;
  st.stored = true;
  {
    std::vector<char> buf = rawRoundTrip<ObjectStat>("ObjectStat", st, ObjectStat::WIRE_SIZE,
                                                     [&](const ObjectStat &o) { return sameStat(o, st); });
    buf.back() = 3;
    ObjectStat t;
    Reader r(buf.data(), buf.size());
    expect(!decodePayload(r, t), "ObjectStat: stored bool byte 3 rejected");
  }
  {
    ListPage p;
    p.fromStore = true;
    p.next = "s:00000000deadbeef";
    for (int i = 0; i < 3; i++) {
      p.entries.push_back(st);
      p.entries.back().objectId.low = i;
    }
    std::vector<char> buf = rawRoundTrip<ListPage>("ListPage of 3 entries", p, 2 + 8 + p.next.size() + 1 + 4 + 3 * ObjectStat::WIRE_SIZE,
                                                   [&](const ListPage &o) {
                                                     return !o.end && o.fromStore && o.next == p.next && o.entries.size() == 3 &&
                                                            sameStat(o.entries[2], p.entries[2]);
                                                   });
    ListPage t;
    for (size_t at : {(size_t)0, (size_t)1}) {
      std::vector<char> bad = buf;
      bad[at] = 2;
      Reader r(bad.data(), bad.size());
      expect(!decodePayload(r, t), "ListPage: bool byte 2 at " + std::to_string(at) + " rejected");
    }
    p.end = true;
    p.fromStore = false;
    p.next.clear();
    p.entries.clear();
    rawRoundTrip<ListPage>("ListPage: the last, empty", p, 2 + 9 + 4,
                           [&](const ListPage &o) { return o.end && !o.fromStore && o.next.empty() && o.entries.empty(); });
  }
  {
    // The largest page: MAX_ENTRIES entries and a cursor of CURSOR_MAX fit a reply's inline data.
    ListPage p;
    p.next.assign(ListRequest::CURSOR_MAX, 'n');
    p.entries.assign(ListPage::MAX_ENTRIES, st);
    std::vector<char> data(EAGER_MAX);
    Writer w(data.data(), data.size());
    p.encode(w);
    expect(w.ok() && w.size() <= EAGER_MAX, "ListPage: MAX_ENTRIES entries and a CURSOR_MAX cursor fit EAGER_MAX (" +
                                                std::to_string(w.size()) + " bytes)");
    data.resize(w.size());
    Response resp;
    resp.msgDataSize = data.size();
    resp.msgHasData = true;
    resp.data = data.data();
    std::vector<char> msg = encode(OBJ_LIST_ACK, resp);
    Response o;
    ListPage back;
    bool ok = !msg.empty() && msg.size() <= MSG_BUFFER_SIZE && decode(msg, msg.size(), o);
    Reader pr(o.data, ok ? o.msgDataSize : 0);
    expect(ok && decodePayload(pr, back) && back.entries.size() == ListPage::MAX_ENTRIES,
           "OBJ_LIST_ACK carrying the largest page fits a message and decodes");
    p.entries.push_back(st);
    data.assign(EAGER_MAX + 4096, 0);
    Writer w2(data.data(), data.size());
    p.encode(w2);
    Reader r2(data.data(), w2.size());
    expect(w2.ok() && !decodePayload(r2, back), "ListPage: MAX_ENTRIES + 1 entries rejected");
    // A count beyond the bytes present is rejected before anything is allocated for it.
    ListPage small;
    small.entries.push_back(st);
    std::vector<char> buf(256);
    Writer w3(buf.data(), buf.size());
    small.encode(w3);
    buf.resize(w3.size());
    uint32_t lie = ListPage::MAX_ENTRIES;
    memcpy(buf.data() + 2 + 9, &lie, 4);
    Reader r3(buf.data(), buf.size());
    expect(!decodePayload(r3, back), "ListPage: an entry count larger than the entries present rejected");
  }
  for (uint64_t type : {OBJ_STAT_ACK, OBJ_LIST_ACK, OBJ_DELETE_ACK}) {
    Response m;
    m.status = -2;
    roundTrip<Response>(msgTypeName(type), type, m, 32 + 13, [&](const Response &o) { return o.status == -2 && !o.msgHasData; });
  }
  {
    // An error reply with the reason the server knows: decodeResponse takes it; the original's
    // decoder (decodePayload) refuses the extra bytes, the Response itself decodes alone.
    Response m;
    m.status = -13;
    std::vector<char> buf(512 + 128);
    Writer w(buf.data(), buf.size());
    m.encode(w);
    ReplyReason why;
    why.reason = "store dir:///x: Permission denied";
    why.encode(w);
    buf.resize(w.size());
    Reader r(buf.data(), buf.size());
    Response o;
    std::string reason;
    expect(decodeResponse(r, o, &reason) && o.status == -13 && reason == why.reason, "ReplyReason: round trip after a Response");
    Reader r2(buf.data(), buf.size() - 1);
    expect(!decodeResponse(r2, o, &reason), "ReplyReason: truncated rejected");
  }
  {
    uint64_t a, b, c;
    ObjectRequest o;
    ListRequest l;
    l.cursor = "c:00000000000000010000000000000002";
    std::vector<char> m1 = withTrailer(OBJ_STAT, o, 21), m2 = withTrailer(OBJ_DELETE, o, 22), m3 = withTrailer(OBJ_LIST, l, 23);
    expect(splitRequestTrailer(m1.data(), m1.size(), a) == m1.size() - 16 && a == 21 &&
               splitRequestTrailer(m2.data(), m2.size(), b) == m2.size() - 16 && b == 22 &&
               splitRequestTrailer(m3.data(), m3.size(), c) == m3.size() - 16 && c == 23,
           "trailer: found after OBJ_STAT, OBJ_DELETE and OBJ_LIST");
  }
}

int main() {
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
  requestTrailerCases();
  namespaceCases();
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
