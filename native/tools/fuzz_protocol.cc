// Fuzz target over the wire codec (native/fabric/protocol.*): every message type's decoder.
//
// Built two ways:
//  - with clang's libFuzzer (scripts/fuzz.sh: -fsanitize=fuzzer,address,undefined), where
//    LLVMFuzzerTestOneInput is the entry point and libFuzzer mutates inputs;
//  - as a plain program (CMake target iocatcher-fuzz-protocol, IOC_FUZZ_STANDALONE) that replays
//    regression inputs (files or directories given on the command line, e.g.
//    test/fuzz-corpus/protocol), runs a bounded number of seeded random mutations, or writes
//    the seed corpus (--write-seeds DIR).
//
// Properties checked for every input: no decoder reads out of bounds or crashes (the sanitizers
// see that); a payload that decodes re-encodes to exactly the same bytes (the codec is
// canonical), and what decodes never exceeds its limits (eager data <= EAGER_MAX, addresses <=
// CLIENT_ADDR_MAX). A violation aborts.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fabric/protocol.h"
#include "tools/message_bytes.h"

using namespace ioc::proto;

namespace {

[[noreturn]] void fail(const char *what) {
  fprintf(stderr, "fuzz_protocol: property violated: %s\n", what);
  abort();
}

// Decode `len` bytes as header + payload P; when it decodes, check that it re-encodes to the
// same bytes.
template <class P>
void check(const uint8_t *data, size_t len, const char *name) {
  Reader r(data, len);
  Header h;
  if (!h.decode(r)) return;
  P p;
  if (!decodePayload(r, p)) return;
  std::vector<char> out(len + 64);
  size_t n = encodeMessage(out.data(), out.size(), h, p);
  if (n != len || memcmp(out.data(), data, len) != 0) fail(name);
}

template <class P>
void checkRaw(const uint8_t *data, size_t len, const char *name) {
  Reader r(data, len);
  P p;
  if (!p.decode(r) || !r.done()) return;
  std::vector<char> out(len + 64);
  Writer w(out.data(), out.size());
  p.encode(w);
  if (!w.ok() || w.size() != len || memcmp(out.data(), data, len) != 0) fail(name);
}

void limits(const uint8_t *data, size_t len) {
  Reader r(data, len);
  Header h;
  if (!h.decode(r)) return;
  {
    Reader c = r;
    ReadWrite m;
    if (decodePayload(c, m) && m.msgHasData && (m.size > EAGER_MAX || !m.data)) fail("ReadWrite eager limit");
  }
  {
    Reader c = r;
    Response m;
    if (decodePayload(c, m) && m.msgHasData && m.msgDataSize > EAGER_MAX) fail("Response eager limit");
  }
  {
    Reader c = r;
    Ping m;
    if (decodePayload(c, m) && m.eagerSize > EAGER_MAX) fail("Ping eager limit");
  }
  {
    Reader c = r;
    FirstClientMessage m;
    if (decodePayload(c, m) && (m.addrLen == 0 || m.addrLen > CLIENT_ADDR_MAX)) fail("address limit");
  }
  {
    Reader c = r;
    ErrorMessage m;
    if (decodePayload(c, m) && m.message.size() > STRING_MAX) fail("string limit");
  }
  {
    Reader c = r;
    ListRequest m;
    if (decodePayload(c, m) && m.cursor.size() > ListRequest::CURSOR_MAX) fail("list cursor limit");
  }
  {
    Reader c = r;
    WritePieces m;
    if (decodePayload(c, m) && (m.pieces.empty() || m.pieces.size() > WritePieces::MAX_PIECES || m.totalBytes() > EAGER_MAX))
      fail("write pieces limits");
  }
}

// Reply data (no header): a list page never holds more than MAX_ENTRIES entries nor a cursor
// longer than CURSOR_MAX.
void pageLimits(const uint8_t *data, size_t len) {
  Reader r(data, len);
  ListPage p;
  if (decodePayload(r, p) && (p.entries.size() > ListPage::MAX_ENTRIES || p.next.size() > ListRequest::CURSOR_MAX))
    fail("list page limits");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
  // The server dispatches on the header's type; here every decoder sees every input, so the
  // fuzzer need not guess type numbers to reach a decoder.
  check<ReadWrite>(data, len, "ReadWrite round trip");
  check<Flush>(data, len, "Flush round trip");
  check<Create>(data, len, "Create round trip");
  check<RegisterRange>(data, len, "RegisterRange round trip");
  check<UnregisterRange>(data, len, "UnregisterRange round trip");
  check<Cow>(data, len, "Cow round trip");
  check<Response>(data, len, "Response round trip");
  check<FirstHandshake>(data, len, "FirstHandshake round trip");
  check<FirstClientMessage>(data, len, "FirstClientMessage round trip");
  check<ErrorMessage>(data, len, "ErrorMessage round trip");
  check<Ping>(data, len, "Ping round trip");
  check<ObjectRequest>(data, len, "ObjectRequest round trip");
  check<ListRequest>(data, len, "ListRequest round trip");
  check<WritePieces>(data, len, "WritePieces round trip");
  checkRaw<TcpHandshake>(data, len, "TcpHandshake round trip");
  checkRaw<ObjectStat>(data, len, "ObjectStat round trip");
  checkRaw<ListPage>(data, len, "ListPage round trip");
  limits(data, len);
  pageLimits(data, len);
  uint64_t type = 0;
  if (len >= 8) memcpy(&type, data, 8);
  if (!msgTypeName(type)) fail("msgTypeName");
  return 0;
}

#ifdef IOC_FUZZ_STANDALONE
#include <dirent.h>
#include <sys/stat.h>

#include <fstream>
#include <iterator>
#include <random>

namespace {

std::vector<std::vector<uint8_t>> seeds() {
  std::vector<std::vector<uint8_t>> out;
  auto add = [&](uint64_t type, auto &&payload) {
    out.push_back(ioc::tools::messageBytes<uint8_t>(ioc::tools::headerOf(type, 1, 2, 3), payload));
  };
  static char bytes[64] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde";
  ReadWrite rw;
  rw.objectId.high = 10;
  rw.objectId.low = 20;
  rw.offset = 4096;
  rw.size = 40;
  rw.msgHasData = true;
  rw.data = bytes;
  add(OBJ_WRITE, rw);
  rw.msgHasData = false;
  add(OBJ_READ, rw);
  rw.size = 1 << 20;
  rw.iov.addr = 0x1000;
  rw.iov.key = 7;
  add(OBJ_WRITE, rw);
  Flush f;
  f.objectId.high = 10;
  add(FLUSH, f);
  Create c;
  add(CREATE, c);
  RegisterRange rr;
  rr.size = 100;
  rr.write = true;
  add(RANGE_REGISTER, rr);
  UnregisterRange ur;
  ur.size = 100;
  ur.id = 1;
  add(RANGE_UNREGISTER, ur);
  Cow cw;
  cw.dst.low = 1;
  cw.allowExist = true;
  cw.rangeSize = 4096;
  add(COW, cw);
  Response resp;
  resp.msgDataSize = 16;
  resp.msgHasData = true;
  resp.data = bytes;
  add(READ_WRITE_ACK, resp);
  FirstHandshake fh;
  fh.assignLfClientId = 5;
  add(ASSIGN_ID, fh);
  FirstClientMessage fc;
  memcpy(fc.addr, bytes, 32);
  add(CONNECT_INIT, fc);
  ErrorMessage em;
  em.message = "server shutting down";
  add(FATAL_ERROR, em);
  Ping p;
  p.eagerSize = 8;
  p.data = bytes;
  add(PING, p);
  ObjectRequest orq;
  orq.objectId.high = 10;
  orq.objectId.low = 20;
  add(OBJ_STAT, orq);
  add(OBJ_DELETE, orq);
  ListRequest lr;
  lr.cursor = "s:1efce248700a9a17";
  lr.filterHigh = true;
  lr.high = 10;
  lr.maxEntries = 100;
  add(OBJ_LIST, lr);
  WritePieces wp;
  wp.objectId = orq.objectId;
  wp.pieces = {{0, 8, bytes}, {4096, 16, bytes}};
  add(OBJ_WRITE_PIECES, wp);
  auto raw = [&](auto &&payload) {
    std::vector<uint8_t> b(MSG_BUFFER_SIZE);
    Writer pw(b.data(), b.size());
    payload.encode(pw);
    b.resize(pw.size());
    out.push_back(b);
  };
  ObjectStat os;
  os.objectId = orq.objectId;
  os.size = 4096;
  os.storedBytes = 100;
  os.stored = true;
  raw(os);
  ListPage lp;
  lp.next = "c:000000000000000a0000000000000014";
  lp.entries.assign(3, os);
  raw(lp);
  TcpHandshake th;
  th.clientId = 3;
  th.clientKey = 0x1234;
  std::vector<uint8_t> tb(TcpHandshake::WIRE_SIZE);
  Writer w(tb.data(), tb.size());
  th.encode(w);
  out.push_back(tb);
  return out;
}

void mutate(std::vector<uint8_t> &b, std::mt19937_64 &rng) {
  int kind = rng() % 6;
  switch (kind) {
    case 0:  // flip bits
      for (int i = 0, n = 1 + rng() % 4; i < n && !b.empty(); i++) b[rng() % b.size()] ^= 1u << (rng() % 8);
      break;
    case 1:  // truncate
      if (!b.empty()) b.resize(rng() % b.size());
      break;
    case 2:  // extend with random bytes
      for (int i = 0, n = 1 + rng() % 16; i < n; i++) b.push_back((uint8_t)rng());
      break;
    case 3: {  // overwrite an aligned 8-byte field with an interesting value
      static const uint64_t vals[] = {0, 1, 32768, 32769, ~0ull, 1ull << 63, (1ull << 63) - 1, 4096, 0xffffffff};
      if (b.size() >= 8) {
        size_t at = (rng() % (b.size() / 8)) * 8;
        uint64_t v = vals[rng() % (sizeof vals / sizeof *vals)];
        memcpy(&b[at], &v, 8);
      }
      break;
    }
    case 4:  // random byte anywhere
      if (!b.empty()) b[rng() % b.size()] = (uint8_t)rng();
      break;
    default:  // completely random
      b.resize(rng() % 256);
      for (auto &x : b) x = (uint8_t)rng();
  }
}

bool readFile(const std::string &path, std::vector<uint8_t> &out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

size_t replay(const std::string &path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    fprintf(stderr, "fuzz_protocol: cannot open %s\n", path.c_str());
    exit(2);
  }
  if (S_ISDIR(st.st_mode)) {
    size_t n = 0;
    DIR *d = opendir(path.c_str());
    while (dirent *e = d ? readdir(d) : nullptr) {
      if (e->d_name[0] == '.') continue;
      n += replay(path + "/" + e->d_name);
    }
    if (d) closedir(d);
    return n;
  }
  std::vector<uint8_t> b;
  readFile(path, b);
  LLVMFuzzerTestOneInput(b.data(), b.size());
  return 1;
}

}  // namespace

// iocatcher-fuzz-protocol [--random N] [--seed S] [--write-seeds DIR] [FILE|DIR...]
int main(int argc, char **argv) {
  uint64_t randomRuns = 0, seed = 1;
  size_t replayed = 0;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--random" && i + 1 < argc) {
      randomRuns = strtoull(argv[++i], nullptr, 10);
    } else if (a == "--seed" && i + 1 < argc) {
      seed = strtoull(argv[++i], nullptr, 10);
    } else if (a == "--write-seeds" && i + 1 < argc) {
      std::string dir = argv[++i];
      mkdir(dir.c_str(), 0755);
      auto s = seeds();
      for (size_t k = 0; k < s.size(); k++) {
        std::ofstream out(dir + "/seed-" + std::to_string(k), std::ios::binary);
        out.write(reinterpret_cast<const char *>(s[k].data()), s[k].size());
      }
      printf("wrote %zu seeds to %s\n", s.size(), dir.c_str());
    } else {
      replayed += replay(a);
    }
  }
  std::mt19937_64 rng(seed);
  auto corpus = seeds();
  for (auto &s : corpus) LLVMFuzzerTestOneInput(s.data(), s.size());
  for (uint64_t i = 0; i < randomRuns; i++) {
    std::vector<uint8_t> b = corpus[rng() % corpus.size()];
    for (int k = 0, n = 1 + rng() % 3; k < n; k++) mutate(b, rng);
    LLVMFuzzerTestOneInput(b.data(), b.size());
  }
  printf("fuzz_protocol: %zu regression inputs, %zu seeds, %llu random mutations: ok\n", replayed, corpus.size(),
         (unsigned long long)randomRuns);
  return 0;
}
#endif
