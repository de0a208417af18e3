// Codec cases of what follows a request's payload: the RequestTrailer (found only where the
// payload ends; the rest decodes as before), the fencing RequestDeadline before it, and the
// sequence a reply's header echoes.
#include <cstring>

#include "tools/codec_test.h"

namespace codec_test {

void requestTrailerCases() {
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

}  // namespace codec_test
