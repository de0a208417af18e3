// iocatcher-live-fuzz's fuzz mode (usage: live_fuzz.cc): random valid messages of every type,
// mutated half of the time, with a PING that must be answered every 64 messages, while a thread
// writes junk to the TCP side channel; then checkServer().
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <thread>

#include "tools/live_fuzz_client.h"

namespace live_fuzz {

namespace {

const uint64_t kTypes[] = {CONNECT_INIT, ASSIGN_ID, BAD_AUTH, FATAL_ERROR, 4,        PING,     PONG,
                           OBJ_READ,     OBJ_WRITE, READ_WRITE_ACK, FLUSH, FLUSH_ACK, CREATE,  CREATE_ACK,
                           RANGE_REGISTER, RANGE_REGISTER_ACK, RANGE_UNREGISTER, RANGE_UNREGISTER_ACK, COW,
                           COW_ACK, OBJ_STAT, OBJ_STAT_ACK, OBJ_LIST, OBJ_LIST_ACK, OBJ_DELETE,
                           OBJ_DELETE_ACK, 12, 99, 119, 1000, ~0ull};

struct Fuzzer {
  RawClient &c;
  std::mt19937_64 rng;
  std::vector<char> data;  // source of inline bytes
  explicit Fuzzer(RawClient &client, uint64_t seed) : c(client), rng(seed), data(EAGER_MAX + 8192) {
    for (auto &b : data) b = (char)rng();
  }
  uint64_t pick(std::initializer_list<uint64_t> v) { return *(v.begin() + rng() % v.size()); }
  uint64_t offset() {
    switch (rng() % 6) {
      case 0: return 0;
      case 1: return rng() % (1 << 20);
      case 2: return rng() % (64ull << 20);
      case 3: return pick({~0ull, ~0ull - 4095, 1ull << 63, (1ull << 40), (1ull << 50) + 3});
      default: return rng() % 4096;
    }
  }
  uint64_t size() {
    switch (rng() % 32) {
      case 0: return 0;
      case 1: return EAGER_MAX + 1 + rng() % (2 << 20);  // RMA with a key we never registered
      case 2: return pick({EAGER_MAX, EAGER_MAX + 1, ~0ull, 1ull << 63, 1ull << 33});
      default: return 1 + rng() % 4096;
    }
  }
  ObjectId oid() {
    ObjectId id;
    id.high = 0x46555a5a;  // "FUZZ"
    id.low = (int64_t)(rng() % 8);
    if (rng() % 10 == 0) id.low = (int64_t)rng();
    return id;
  }

  std::vector<char> valid(uint64_t type) {
    Header h = c.header(type);
    switch (type) {
      case OBJ_READ:
      case OBJ_WRITE: {
        ReadWrite m;
        m.objectId = oid();
        m.offset = offset();
        m.size = size();
        m.iov.addr = rng() % 3 ? rng() : 0;
        m.iov.key = rng() % 3 ? rng() : rng() % 64;
        m.msgHasData = type == OBJ_WRITE && m.size <= EAGER_MAX;
        m.data = data.data();
        return messageBytes(h, m);
      }
      case FLUSH: {
        Flush m;
        m.objectId = oid();
        m.offset = offset();
        m.size = rng() % 2 ? 0 : size();
        return messageBytes(h, m);
      }
      case CREATE: {
        Create m;
        m.objectId = oid();
        return messageBytes(h, m);
      }
      case RANGE_REGISTER: {
        RegisterRange m;
        m.objectId = oid();
        m.offset = offset();
        m.size = size();
        m.write = rng() % 2;
        return messageBytes(h, m);
      }
      case RANGE_UNREGISTER: {
        UnregisterRange m;
        m.objectId = oid();
        m.offset = offset();
        m.size = size();
        m.id = (int32_t)(rng() % 20) - 2;
        m.write = rng() % 2;
        return messageBytes(h, m);
      }
      case COW: {
        Cow m;
        m.src = oid();
        m.dst = oid();
        m.allowExist = rng() % 2;
        m.rangeOffset = offset();
        m.rangeSize = rng() % 2 ? 0 : size() % (8 << 20);
        return messageBytes(h, m);
      }
      case OBJ_STAT:
      case OBJ_DELETE: {
        ObjectRequest m;
        m.objectId = oid();
        return messageBytes(h, m);
      }
      case OBJ_LIST: {
        // Cursors of both phases, made up ones, and junk.
        ListRequest m;
        char cur[48];
        switch (rng() % 5) {
          case 0: break;
          case 1: snprintf(cur, sizeof cur, "c:%016llx%016llx", (unsigned long long)rng(), (unsigned long long)rng()); m.cursor = cur; break;
          case 2: snprintf(cur, sizeof cur, "s:%llx", (unsigned long long)(rng() >> (rng() % 64))); m.cursor = cur; break;
          case 3: m.cursor = "s:"; break;
          default: m.cursor.assign(rng() % (ListRequest::CURSOR_MAX + 1), (char)('a' + rng() % 26));
        }
        m.filterHigh = rng() % 2;
        m.high = rng() % 2 ? 0x46555a5a : (int64_t)rng();
        m.maxEntries = (uint32_t)pick({0, 1, 7, ListPage::MAX_ENTRIES, ListPage::MAX_ENTRIES + 1, ~0u});
        return messageBytes(h, m);
      }
      case PING: {
        Ping m;
        m.eagerSize = rng() % 4 ? rng() % 256 : rng() % (EAGER_MAX + 1);
        m.rdmaSize = rng() % 32 ? 0 : rng() % (1 << 20);  // RMA with a key we never registered
        m.iov.addr = rng();
        m.iov.key = rng();
        m.data = data.data();
        return messageBytes(h, m);
      }
      case CONNECT_INIT: {
        // Our own address with a mangled port or family: the server must cope with addresses
        // it cannot reach without stalling everyone else for long.
        FirstClientMessage m = c.firstMessage();
        if (rng() % 2) m.addr[0] ^= (char)(1 + rng() % 255);  // family
        return messageBytes(h, m);
      }
      case FATAL_ERROR: {
        ErrorMessage m;
        m.message = "fuzz";
        return messageBytes(h, m);
      }
      default: {  // replies, or types that do not exist: a Response payload
        Response m;
        m.msgDataSize = rng() % 64;
        m.status = (int32_t)rng();
        m.msgHasData = rng() % 2;
        m.data = data.data();
        return messageBytes(h, m);
      }
    }
  }

  void mutate(std::vector<char> &b) {
    switch (rng() % 8) {
      case 0:
        for (int i = 0, n = 1 + rng() % 4; i < n && !b.empty(); i++) b[rng() % b.size()] ^= (char)(1u << (rng() % 8));
        break;
      case 1:
        if (!b.empty()) b.resize(rng() % b.size());
        break;
      case 2:
        for (int i = 0, n = 1 + rng() % 64; i < n; i++) b.push_back((char)rng());
        break;
      case 3:  // another client's id, or one that does not exist
        if (b.size() >= 16) {
          uint64_t v = rng() % 2 ? c.lfId() + 1 + rng() % 3 : rng();
          memcpy(&b[8], &v, 8);
        }
        break;
      case 4:  // wrong tcp id or key
        if (b.size() >= 32) {
          uint64_t v = rng() % 2 ? rng() % 8 : rng();
          memcpy(&b[16 + 8 * (rng() % 2)], &v, 8);
        }
        break;
      case 5:  // wrong message type
        if (b.size() >= 8) {
          uint64_t v = kTypes[rng() % (sizeof kTypes / sizeof *kTypes)];
          memcpy(&b[0], &v, 8);
        }
        break;
      case 6:  // an interesting value in an aligned field past the header
        if (b.size() >= 40) {
          static const uint64_t vals[] = {0, 1, EAGER_MAX, EAGER_MAX + 1, ~0ull, 1ull << 63, 2, 0x100000000ull};
          size_t at = 32 + 8 * (rng() % ((b.size() - 32) / 8));
          memcpy(&b[at], &vals[rng() % (sizeof vals / sizeof *vals)], 8);
        }
        break;
      default:  // oversized message (beyond the server's buffer)
        b.resize(MSG_BUFFER_SIZE + 1 + rng() % 4096, 'x');
    }
  }
};

std::atomic<bool> tcpStop{false};
std::atomic<uint64_t> tcpConnections{0};

void tcpJunk(std::string ip, int port, uint64_t count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int> held;
  for (uint64_t i = 0; i < count && !tcpStop; i++) {
    int fd = tcpConnect(ip, port);
    if (fd < 0) continue;
    tcpConnections++;
    if (rng() % 2) {
      char g[TcpHandshake::WIRE_SIZE];
      readFull(fd, g, sizeof g, 2000);
    }
    size_t n = rng() % 3 == 0 ? 0 : rng() % 8192;
    std::vector<char> junk(n);
    for (auto &b : junk) b = (char)rng();
    if (n) (void)!::send(fd, junk.data(), n, MSG_NOSIGNAL);
    switch (rng() % 4) {
      case 0: shutdown(fd, SHUT_WR); close(fd); break;
      case 1:
        held.push_back(fd);  // kept open for a while: the server must not wait on it
        if (held.size() > 16) {
          close(held.front());
          held.erase(held.begin());
        }
        break;
      default: close(fd);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 5));
  }
  for (int fd : held) close(fd);
}

}  // namespace

int runFuzz(const std::string &ip, const std::string &port, uint64_t count, uint64_t seed, uint64_t tcpCount) {
  std::thread junk(tcpJunk, ip, atoi(port.c_str()) + 1, tcpCount, seed * 31 + 7);
  uint64_t sent = 0, replies = 0, pings = 0, sendFailures = 0, syncRetries = 0;
  std::map<std::string, uint64_t> byReply;
  bool ok = true;
  std::string why;
  try {
    RawClient c(ip, port);
    Fuzzer f(c, seed);
    for (uint64_t i = 0; i < count && ok; i++) {
      uint64_t type = kTypes[f.rng() % (sizeof kTypes / sizeof *kTypes)];
      if (type == CONNECT_INIT && f.rng() % 8) type = PING;  // rare: each may stall the server briefly
      std::vector<char> m = f.valid(type);
      if (f.rng() % 2) f.mutate(m);
      if (c.send(m)) sent++;
      else sendFailures++;
      c.progress(0);
      // Sync point: a PING with a unique payload must come back.
      if (i % 64 == 63 || i + 1 == count) {
        // A message the fuzzer's own provider refuses (an RMA with a key it never gave) makes it
        // drop the connection, losing what was queued on it: a few tries, each with a new tag.
        bool got = false;
        for (int attempt = 0; attempt < 6 && !got; attempt++) {
          Ping p;
          char tag[32];
          snprintf(tag, sizeof tag, "sync-%llu-%d", (unsigned long long)i, attempt);
          p.eagerSize = sizeof tag;
          p.data = tag;
          if (!c.send(messageBytes(c.header(PING), p))) continue;
          Message pong;
          got = c.waitFor(PONG, 2000, pong, [&](const Message &mm) {
            return mm.bytes.size() >= sizeof tag &&
                   memcmp(mm.bytes.data() + mm.bytes.size() - sizeof tag, tag, sizeof tag) == 0;
          });
          if (attempt > 0) syncRetries++;
        }
        if (!got) {
          ok = false;
          why = "sync ping " + std::to_string(i) + ": no PONG in 6 tries";
          break;
        }
        pings++;
        for (auto &mm : c.inbox()) byReply[msgTypeName(mm.h.msgType)]++, replies++;
        c.inbox().clear();
      }
    }
  } catch (const std::exception &e) {
    ok = false;
    why = e.what();
  }
  tcpStop = true;
  junk.join();
  printf("fuzz sent=%llu replies=%llu pings=%llu syncRetries=%llu tcp=%llu sendFailures=%llu\n",
         (unsigned long long)sent, (unsigned long long)replies, (unsigned long long)pings,
         (unsigned long long)syncRetries, (unsigned long long)tcpConnections.load(), (unsigned long long)sendFailures);
  for (auto &kv : byReply) printf("  reply %s: %llu\n", kv.first.c_str(), (unsigned long long)kv.second);
  if (!ok) {
    printf("fuzz FAILED: %s\n", why.c_str());
    return 1;
  }
  try {
    if (!checkServer(ip, port, why)) {
      printf("check FAILED: %s\n", why.c_str());
      return 1;
    }
  } catch (const std::exception &e) {
    printf("check FAILED: %s\n", e.what());
    return 1;
  }
  printf("check ok\n");
  return 0;
}

}  // namespace live_fuzz
