// Codec cases of the object namespace: OBJ_STAT, OBJ_DELETE, OBJ_LIST and their replies, the
// ObjectStat and ListPage they carry, and the ReplyReason after a failed reply.
#include <cstring>

#include "tools/codec_test.h"

namespace codec_test {

static bool sameStat(const ObjectStat &a, const ObjectStat &b) {
  return a.objectId == b.objectId && a.size == b.size && a.storedBytes == b.storedBytes &&
         a.cachedBytes == b.cachedBytes && a.dirtyBytes == b.dirtyBytes && a.stored == b.stored;
}

void namespaceCases() {
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

}  // namespace codec_test
