// The checks of the wire codec's unit test (codec_test.cc runs the case groups, each in its
// own codec_test_*.cc): each prints one line, counted in passed / failed.
#pragma once

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "fabric/protocol.h"
#include "tools/message_bytes.h"

namespace codec_test {

using namespace ioc::proto;

extern int passed, failed;

inline void expect(bool ok, const std::string &name) {
  printf("%s %s\n", ok ? "ok  " : "FAIL", name.c_str());
  (ok ? passed : failed)++;
}

// A message with the header every case uses (its ids are checked by roundTrip).
template <class P>
std::vector<char> encode(uint64_t type, const P &p) {
  return ioc::tools::messageBytes(ioc::tools::headerOf(type, 7, 8, 9), p);
}

template <class P>
bool decode(const char *buf, size_t len, P &out, Header *hOut = nullptr) {
  Reader r(buf, len);
  Header h;
  if (!h.decode(r)) return false;
  if (hOut) *hOut = h;
  return decodePayload(r, out);
}
template <class P>
bool decode(const std::vector<char> &buf, size_t len, P &out, Header *hOut = nullptr) {
  return decode(buf.data(), len, out, hOut);
}

// Every strict prefix of buf rejected, but those a message type reads as complete (validPrefix),
// and, when trailing, buf with one more byte rejected.
inline void rejectsCutAndLonger(const std::string &name, const std::vector<char> &buf,
                                const std::function<bool(const char *, size_t)> &decodes,
                                const std::function<bool(size_t)> &validPrefix, bool trailing) {
  bool allTruncatedRejected = true;
  for (size_t len = 0; len < buf.size(); len++)
    if (!validPrefix(len) && decodes(buf.data(), len)) allTruncatedRejected = false;
  expect(allTruncatedRejected, name + ": every truncated prefix rejected");
  if (!trailing) return;
  std::vector<char> longer = buf;
  longer.push_back(0);
  expect(!decodes(longer.data(), longer.size()), name + ": trailing byte rejected");
}

// Round trip of a message + every strict prefix rejected + one trailing byte rejected.
template <class P>
void roundTrip(const std::string &name, uint64_t type, const P &in, size_t expectedSize,
               const std::function<bool(const P &)> &same) {
  std::vector<char> buf = encode(type, in);
  expect(buf.size() == expectedSize, name + ": wire size " + std::to_string(buf.size()) + " == " + std::to_string(expectedSize));
  P out;
  Header h;
  bool ok = decode(buf, buf.size(), out, &h);
  expect(ok && same(out) && h.msgType == type && h.lfClientId == 7 && h.tcpClientId == 8 && h.tcpClientKey == 9,
         name + ": round trip");
  rejectsCutAndLonger(
      name, buf, [](const char *b, size_t len) { P t; return decode(b, len, t); },
      [type](size_t len) {
        // Any non-empty prefix of CONNECT_INIT's address is an address; ASSIGN_ID cut before
        // its extension is an original server's (before its clock, an older iocatcher-ts one).
        return (type == CONNECT_INIT && len > Header::WIRE_SIZE) ||
               (type == ASSIGN_ID && (len == Header::WIRE_SIZE + 12 || len == Header::WIRE_SIZE + 21));
      },
      type != CONNECT_INIT);
}

// A payload that travels inside a Response's data (no header): round trip, every strict prefix
// and one trailing byte rejected. Returns its bytes.
template <class P>
std::vector<char> rawRoundTrip(const std::string &name, const P &in, size_t expectedSize,
                               const std::function<bool(const P &)> &same) {
  std::vector<char> buf(MSG_BUFFER_SIZE);
  Writer w(buf.data(), buf.size());
  in.encode(w);
  buf.resize(w.ok() ? w.size() : 0);
  expect(buf.size() == expectedSize, name + ": wire size " + std::to_string(buf.size()) + " == " + std::to_string(expectedSize));
  P out;
  Reader r(buf.data(), buf.size());
  expect(decodePayload(r, out) && same(out), name + ": round trip");
  rejectsCutAndLonger(
      name, buf,
      [](const char *b, size_t len) {
        P t;
        Reader tr(b, len);
        return decodePayload(tr, t);
      },
      [](size_t) { return false; }, true);
  return buf;
}

// A message with a RequestTrailer appended.
template <class P>
std::vector<char> withTrailer(uint64_t type, const P &p, uint64_t sequence) {
  std::vector<char> buf = encode(type, p);
  size_t n = buf.size();
  buf.resize(n + RequestTrailer::WIRE_SIZE);
  Writer w(buf.data() + n, RequestTrailer::WIRE_SIZE);
  RequestTrailer t;
  t.sequence = sequence;
  t.encode(w);
  return buf;
}

// The case groups.
void messageCases();
void requestTrailerCases();
void namespaceCases();
void writePiecesCases();

}  // namespace codec_test
