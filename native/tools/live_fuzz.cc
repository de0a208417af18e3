// iocatcher-live-fuzz: speaks the wire protocol to a live server, badly on purpose.
//
//   iocatcher-live-fuzz IP PORT fuzz [--count N] [--seed S] [--tcp-junk N]
//       Sends N random and mutated messages of every type (valid templates with random fields,
//       then bit flips, truncations, extensions, wrong ids/keys/types) over libfabric, with a
//       PING/PONG sync point every 64 messages that must be answered; meanwhile a thread opens
//       --tcp-junk connections to the TCP side channel (PORT+1) and writes random bytes.
//       Then checks that a fresh, well-behaved connection still writes, reads, stats, lists and
//       deletes correctly.
//       Prints "fuzz sent=... replies=... pings=... tcp=..." and "check ok"; exit 0 on success.
//   iocatcher-live-fuzz IP PORT case NAME
//       Sends one deliberately bad request and prints "status=<n> reply=<TYPE>" (or
//       "status=none" when the server sends no reply within 5 s). Cases: unknown-type,
//       overflow-read, overflow-flush, overflow-register, overflow-cow, big-read (1 MiB),
//       big-eager (16 KiB eager write), far-write (1 byte at 1 TiB), foreign-lf-id,
//       unknown-lf-id, foreign-tcp-id, bad-rma-key-write, bad-rma-key-read, bad-rma-addr-write,
//       truncated-payload, dead-addresses (10 CONNECT_INITs naming addresses nobody answers at),
//       stalled-read, stalled-write (a 64 MiB read or write, then the endpoint is never
//       progressed again; until killed).
//   iocatcher-live-fuzz IP PORT forge [--ids N] [--rounds R]
//       Plays an attacker who knows only the small sequential ids of other clients, not their
//       keys: R rounds of OBJ_READ, CREATE and PING messages carrying every lf id in 1..N and
//       TCP id in 0..N with a wrong key. Prints "forged sent=<n> replies=<n>" (replies: messages that came
//       back to the attacker) and "alive=1" when its own connection is still served.
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "fabric/fabric.h"
#include "fabric/protocol.h"

using namespace ioc;
using namespace ioc::proto;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t ERROR_ACK_TYPE = ERROR_ACK;

int tcpConnect(const std::string &ip, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  if (connect(fd, (sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool readFull(int fd, void *buf, size_t n, int timeoutMs) {
  size_t got = 0;
  while (got < n) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, timeoutMs) <= 0) return false;
    ssize_t r = recv(fd, (char *)buf + got, n - got, 0);
    if (r <= 0) return false;
    got += r;
  }
  return true;
}

struct Message {
  Header h;
  std::vector<char> bytes;
};

// A minimal protocol client on its own libfabric endpoint: sends arbitrary bytes.
class RawClient {
 public:
  RawClient(const std::string &ip, const std::string &port) : ip_(ip), port_(port) {
    tcpFd_ = tcpConnect(ip, atoi(port.c_str()) + 1);
    if (tcpFd_ < 0) throw std::runtime_error("cannot connect to the TCP side channel");
    char g[TcpHandshake::WIRE_SIZE];
    if (!readFull(tcpFd_, g, sizeof g, 5000)) throw std::runtime_error("no TCP greeting");
    Reader r(g, sizeof g);
    if (!tcp_.decode(r)) throw std::runtime_error("bad TCP greeting");
    fabric::Options fo;
    fo.node = ip;
    fo.service = port;
    t_.reset(new fabric::Transport(fo, 256));
    server_ = t_->av.insert(t_->info->dest_addr);
    bufs_.reset(new char[(SLOTS + 1) * MSG_BUFFER_SIZE * 2]);
    if (t_->needsLocalMr()) {
      mr_ = fabric::MemoryRegion(t_->domain, t_->info, bufs_.get(), (SLOTS + 1) * MSG_BUFFER_SIZE * 2,
                                 FI_SEND | FI_RECV, 77);
      desc_ = mr_.desc();
    }
    for (size_t i = 0; i < SLOTS; i++) {
      slots_[i] = bufs_.get() + i * MSG_BUFFER_SIZE;
      repost(i);
    }
    sendBuf_ = bufs_.get() + SLOTS * MSG_BUFFER_SIZE;
    // CONNECT_INIT with our address; the reply assigns our libfabric client id.
    std::vector<char> name = t_->ep.name();
    FirstClientMessage first;
    first.addrLen = std::max(name.size(), FirstClientMessage::ORIGINAL_ADDR_SIZE);
    memcpy(first.addr, name.data(), name.size());
    myAddr_ = name;
    Header h = header(CONNECT_INIT);
    std::vector<char> m(MSG_BUFFER_SIZE);
    m.resize(encodeMessage(m.data(), m.size(), h, first));
    send(m);
    Message reply;
    if (!waitFor(ASSIGN_ID, 10000, reply)) throw std::runtime_error("no ASSIGN_ID");
    Reader r2(reply.bytes.data(), reply.bytes.size());
    Header rh;
    FirstHandshake fh;
    rh.decode(r2);
    if (!decodePayload(r2, fh)) throw std::runtime_error("bad ASSIGN_ID");
    lfId_ = fh.assignLfClientId;
  }
  ~RawClient() {
    t_.reset();
    if (tcpFd_ >= 0) close(tcpFd_);
  }

  Header header(uint64_t type) const {
    Header h;
    h.msgType = type;
    h.lfClientId = lfId_;
    h.tcpClientId = tcp_.clientId;
    h.tcpClientKey = tcp_.clientKey;
    return h;
  }
  uint64_t lfId() const { return lfId_; }
  const TcpHandshake &tcp() const { return tcp_; }
  const std::vector<char> &address() const { return myAddr_; }
  fabric::Transport &transport() { return *t_; }

  // Send bytes (up to 2x the message buffer: larger than the server accepts on purpose).
  bool send(const std::vector<char> &m) {
    size_t len = std::min(m.size(), 2 * MSG_BUFFER_SIZE);
    memcpy(sendBuf_, m.data(), len);
    auto start = Clock::now();
    for (;;) {
      ssize_t ret = t_->ep.send(sendBuf_, len, desc_, server_, &sendCtx_);
      if (ret == 0) break;
      if (ret != -FI_EAGAIN || Clock::now() - start > std::chrono::seconds(10)) return false;
      progress(1);
    }
    sendDone_ = false;
    start = Clock::now();
    while (!sendDone_) {
      if (Clock::now() - start > std::chrono::seconds(10)) return false;
      progress(10);
    }
    return true;
  }

  // Wait for a message of the given type (others are kept in the inbox).
  bool waitFor(uint64_t type, int timeoutMs, Message &out, const std::function<bool(const Message &)> &match = {}) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
    for (;;) {
      for (auto it = inbox_.begin(); it != inbox_.end(); ++it) {
        if (it->h.msgType == type && (!match || match(*it))) {
          out = std::move(*it);
          inbox_.erase(it);
          return true;
        }
      }
      if (Clock::now() >= deadline) return false;
      progress(20);
    }
  }
  // Any reply at all within timeoutMs.
  bool waitAny(int timeoutMs, Message &out) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
    while (inbox_.empty()) {
      if (Clock::now() >= deadline) return false;
      progress(20);
    }
    out = std::move(inbox_.front());
    inbox_.pop_front();
    return true;
  }
  std::deque<Message> &inbox() { return inbox_; }
  void progress(int waitMs) {
    fabric::Completion c[16];
    size_t n = waitMs ? t_->cq.wait(c, 16, waitMs) : t_->cq.poll(c, 16);
    for (size_t i = 0; i < n; i++) pending_.push_back(c[i]);
    while (!pending_.empty()) {
      fabric::Completion one = pending_.front();
      pending_.pop_front();
      handle(one);
    }
  }

 private:
  void handle(const fabric::Completion &c) {
    if (c.context == &sendCtx_) {
      sendDone_ = true;
      return;
    }
    if (c.context < (void *)slotCtx_ || c.context >= (void *)(slotCtx_ + SLOTS)) return;  // none expected
    size_t slot = (size_t)(static_cast<fi_context2 *>(c.context) - slotCtx_);
    if (!c.error) {
      Message m;
      m.bytes.assign(slots_[slot], slots_[slot] + c.len);
      Reader r(m.bytes.data(), m.bytes.size());
      if (m.h.decode(r)) inbox_.push_back(std::move(m));
    }
    repost(slot);
  }
  static constexpr size_t SLOTS = 16;
  void repost(size_t i) {
    for (int k = 0; k < 100000; k++) {
      ssize_t ret = t_->ep.postRecv(slots_[i], MSG_BUFFER_SIZE, desc_, &slotCtx_[i]);
      if (ret != -FI_EAGAIN) return;
      fabric::Completion c[8];
      size_t n = t_->cq.poll(c, 8);
      for (size_t j = 0; j < n; j++) pending_.push_back(c[j]);
    }
  }
  std::deque<fabric::Completion> pending_;
  std::string ip_, port_;
  int tcpFd_ = -1;
  TcpHandshake tcp_;
  std::unique_ptr<fabric::Transport> t_;
  fi_addr_t server_ = FI_ADDR_UNSPEC;
  std::unique_ptr<char[]> bufs_;
  fabric::MemoryRegion mr_;
  void *desc_ = nullptr;
  char *slots_[SLOTS];
  fi_context2 slotCtx_[SLOTS];
  char *sendBuf_ = nullptr;
  fi_context2 sendCtx_;
  bool sendDone_ = false;
  uint64_t lfId_ = 0;
  std::vector<char> myAddr_;
  std::deque<Message> inbox_;
};

template <class P>
std::vector<char> build(const Header &h, const P &p) {
  std::vector<char> m(MSG_BUFFER_SIZE * 2);
  m.resize(encodeMessage(m.data(), m.size(), h, p));
  return m;
}

int replyStatus(const Message &m) {
  Reader r(m.bytes.data(), m.bytes.size());
  Header h;
  h.decode(r);
  if (m.h.msgType == PONG) return 0;
  Response resp;
  if (!decodeResponse(r, resp)) return -10000;  // a ReplyReason may follow a failure's
  return resp.status;
}

// ---------------------------------------------------------------------------------------------
// Fuzzing

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
        return build(h, m);
      }
      case FLUSH: {
        Flush m;
        m.objectId = oid();
        m.offset = offset();
        m.size = rng() % 2 ? 0 : size();
        return build(h, m);
      }
      case CREATE: {
        Create m;
        m.objectId = oid();
        return build(h, m);
      }
      case RANGE_REGISTER: {
        RegisterRange m;
        m.objectId = oid();
        m.offset = offset();
        m.size = size();
        m.write = rng() % 2;
        return build(h, m);
      }
      case RANGE_UNREGISTER: {
        UnregisterRange m;
        m.objectId = oid();
        m.offset = offset();
        m.size = size();
        m.id = (int32_t)(rng() % 20) - 2;
        m.write = rng() % 2;
        return build(h, m);
      }
      case COW: {
        Cow m;
        m.src = oid();
        m.dst = oid();
        m.allowExist = rng() % 2;
        m.rangeOffset = offset();
        m.rangeSize = rng() % 2 ? 0 : size() % (8 << 20);
        return build(h, m);
      }
      case OBJ_STAT:
      case OBJ_DELETE: {
        ObjectRequest m;
        m.objectId = oid();
        return build(h, m);
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
        return build(h, m);
      }
      case PING: {
        Ping m;
        m.eagerSize = rng() % 4 ? rng() % 256 : rng() % (EAGER_MAX + 1);
        m.rdmaSize = rng() % 32 ? 0 : rng() % (1 << 20);  // RMA with a key we never registered
        m.iov.addr = rng();
        m.iov.key = rng();
        m.data = data.data();
        return build(h, m);
      }
      case CONNECT_INIT: {
        // Our own address with a mangled port or family: the server must cope with addresses
        // it cannot reach without stalling everyone else for long.
        FirstClientMessage m;
        const auto &a = c.address();
        memcpy(m.addr, a.data(), std::min(a.size(), sizeof m.addr));
        m.addrLen = std::max(a.size(), FirstClientMessage::ORIGINAL_ADDR_SIZE);
        if (rng() % 2) m.addr[0] ^= (char)(1 + rng() % 255);  // family
        return build(h, m);
      }
      case FATAL_ERROR: {
        ErrorMessage m;
        m.message = "fuzz";
        return build(h, m);
      }
      default: {  // replies, or types that do not exist: a Response payload
        Response m;
        m.msgDataSize = rng() % 64;
        m.status = (int32_t)rng();
        m.msgHasData = rng() % 2;
        m.data = data.data();
        return build(h, m);
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

// A well-behaved exchange after the fuzzing: eager and RMA write + read back, flush, ping.
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
  if (!expect(build(c.header(OBJ_WRITE), w), READ_WRITE_ACK, 0, "eager write")) return false;
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
  if (!expect(build(c.header(OBJ_WRITE), bw), READ_WRITE_ACK, 0, "rma write")) return false;
  ReadWrite br = bw;
  br.iov.addr = mr2.remoteAddr();
  br.iov.key = mr2.key();
  if (!expect(build(c.header(OBJ_READ), br), READ_WRITE_ACK, 0, "rma read")) return false;
  if (memcmp(src.data(), dst.data(), big) != 0) {
    why = "rma read returned other bytes";
    return false;
  }
  ReadWrite r = w;
  r.msgHasData = false;
  if (!c.send(build(c.header(OBJ_READ), r))) return why = "eager read: send failed", false;
  Message reply;
  if (!c.waitFor(READ_WRITE_ACK, 10000, reply)) return why = "eager read: no reply", false;
  Reader rr(reply.bytes.data(), reply.bytes.size());
  Header rh;
  Response resp;
  rh.decode(rr);
  if (!decodeResponse(rr, resp) || resp.status != 0 || !resp.msgHasData || resp.msgDataSize != small.size() ||
      memcmp(resp.data, small.data(), small.size()) != 0)
    return why = "eager read returned other bytes", false;
  Flush f;
  f.objectId = id;
  if (!expect(build(c.header(FLUSH), f), FLUSH_ACK, 0, "flush")) return false;
  Ping p;
  p.eagerSize = 100;
  p.data = small.data();
  if (!expect(build(c.header(PING), p), PONG, 0, "ping")) return false;
  // The namespace: the object is there, a listing page answers, the delete takes it away.
  ObjectRequest o;
  o.objectId = id;
  if (!expect(build(c.header(OBJ_STAT), o), OBJ_STAT_ACK, 0, "stat")) return false;
  ListRequest l;
  l.filterHigh = true;
  l.high = id.high;
  if (!expect(build(c.header(OBJ_LIST), l), OBJ_LIST_ACK, 0, "list")) return false;
  if (!expect(build(c.header(OBJ_DELETE), o), OBJ_DELETE_ACK, 0, "delete")) return false;
  if (!expect(build(c.header(OBJ_STAT), o), OBJ_STAT_ACK, -ENOENT, "stat after the delete")) return false;
  return true;
}

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
          if (!c.send(build(c.header(PING), p))) continue;
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

// ---------------------------------------------------------------------------------------------
// Single bad requests

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
    msg = build(c.header(999), m);
    expectReply = 0;  // any
  } else if (name == "overflow-read") {
    ReadWrite m;
    m.objectId = id;
    m.offset = ~0ull - 10;
    m.size = 100;
    msg = build(c.header(OBJ_READ), m);
  } else if (name == "overflow-flush") {
    Flush m;
    m.objectId = id;
    m.offset = ~0ull - 10;
    m.size = 100;
    msg = build(c.header(FLUSH), m);
    expectReply = FLUSH_ACK;
  } else if (name == "overflow-register") {
    RegisterRange m;
    m.objectId = id;
    m.offset = ~0ull - 10;
    m.size = 100;
    m.write = true;
    msg = build(c.header(RANGE_REGISTER), m);
    expectReply = RANGE_REGISTER_ACK;
  } else if (name == "overflow-cow") {
    Cow m;
    m.src = id;
    m.dst = id;
    m.dst.low++;
    m.allowExist = true;
    m.rangeOffset = ~0ull - 10;
    m.rangeSize = 100;
    msg = build(c.header(COW), m);
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
    msg = build(c.header(name == "bad-rma-key-write" || name == "bad-rma-addr-write" ? OBJ_WRITE : OBJ_READ), m);
  } else if (name == "big-eager") {
    ReadWrite m;
    m.objectId = id;
    m.size = 16384;
    m.msgHasData = true;
    m.data = buf.data();
    msg = build(c.header(OBJ_WRITE), m);
  } else if (name == "far-write") {
    ReadWrite m;
    m.objectId = id;
    m.offset = 1ull << 40;
    m.size = 1;
    m.msgHasData = true;
    m.data = buf.data();
    msg = build(c.header(OBJ_WRITE), m);
  } else if (name == "foreign-lf-id" || name == "foreign-tcp-id") {
    other.reset(new RawClient(ip, port));
    Create m;
    m.objectId = id;
    Header h = c.header(CREATE);
    if (name == "foreign-lf-id") h.lfClientId = other->lfId();
    else h.tcpClientId = other->tcp().clientId;  // with our own key
    msg = build(h, m);
    expectReply = BAD_AUTH;
  } else if (name == "unknown-lf-id") {
    Create m;
    m.objectId = id;
    Header h = c.header(CREATE);
    h.lfClientId = 0x7fffffff12345ull;
    msg = build(h, m);
    expectReply = BAD_AUTH;
  } else if (name == "bad-address" || name == "same-address") {
    // CONNECT_INIT with an address of another family (bad-address), or our own again.
    FirstClientMessage m;
    const auto &a = c.address();
    memcpy(m.addr, a.data(), std::min(a.size(), sizeof m.addr));
    m.addrLen = std::max(a.size(), FirstClientMessage::ORIGINAL_ADDR_SIZE);
    if (name == "bad-address") m.addr[0] ^= 0x33;
    msg = build(c.header(CONNECT_INIT), m);
    expectReply = name == "bad-address" ? ERROR_ACK : ASSIGN_ID;
  } else if (name == "dead-addresses") {
    // Ten CONNECT_INITs naming addresses nobody answers at (a closed port on loopback, and a
    // TEST-NET-1 address): the server must not wait on them (it used to stall ~2 s for each).
    // Our own ping afterwards must be answered as usual.
    for (int i = 0; i < 10; i++) {
      FirstClientMessage m;
      const auto &a = c.address();
      memcpy(m.addr, a.data(), std::min(a.size(), sizeof m.addr));
      m.addrLen = std::max(a.size(), FirstClientMessage::ORIGINAL_ADDR_SIZE);
      sockaddr_in sin;
      memcpy(&sin, m.addr, sizeof sin);
      sin.sin_port = htons((uint16_t)(9 + i));  // discard, daytime...: closed here
      if (i % 2) inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
      memcpy(m.addr, &sin, sizeof sin);
      if (!c.send(build(c.header(CONNECT_INIT), m))) {
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
    if (!c.send(build(c.header(name == "stalled-read" ? OBJ_READ : OBJ_WRITE), m))) {
      printf("send failed\n");
      return 1;
    }
    printf("stalled\n");
    fflush(stdout);
    for (;;) pause();
  } else if (name == "truncated-payload") {
    Create m;
    m.objectId = id;
    msg = build(c.header(CREATE), m);
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
           reply.h.msgType == ERROR_ACK_TYPE ? "ERROR_ACK" : msgTypeName(reply.h.msgType));
  }
  if (other) {
    // The other client must not have received anything about our request.
    Message stray;
    printf("other-received=%d\n", other->waitAny(500, stray) ? 1 : 0);
  }
  // Still served afterwards on the same connection (a few tries: after refusing an RMA key,
  // the provider drops the connection and replies in flight on it are lost).
  bool alive = false;
  for (int attempt = 0; attempt < 4 && !alive; attempt++) {
    Ping p;
    p.eagerSize = 4;
    p.data = "ping";
    Message pong;
    alive = c.send(build(c.header(PING), p)) && c.waitFor(PONG, 4000, pong);
  }
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
      readOk = c.send(build(c.header(OBJ_READ), m)) && c.waitFor(READ_WRITE_ACK, 4000, r2) && replyStatus(r2) == 0;
    }
    bool zeros = readOk;
    for (char ch : back) zeros = zeros && ch == 0;
    printf("unchanged=%d\n", zeros ? 1 : 0);
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Forged credentials

int runForge(const std::string &ip, const std::string &port, uint64_t ids, uint64_t rounds) {
  RawClient c(ip, port);
  std::mt19937_64 rng(getpid());
  uint64_t sent = 0, replies = 0;
  for (uint64_t round = 0; round < rounds; round++) {
    for (uint64_t lf = 1; lf <= ids; lf++) {
      for (uint64_t tcp = 0; tcp <= ids; tcp++) {  // TCP ids start at 0, as the original's
        Header h = c.header(OBJ_READ);
        h.lfClientId = lf;
        h.tcpClientId = tcp;
        h.tcpClientKey = rng() | 1;  // never anyone's key (keys are random too: 2^-63)
        ObjectId id;
        id.high = (int64_t)round;
        id.low = (int64_t)lf;
        std::vector<char> msg;
        switch ((round + lf + tcp) % 3) {
          case 0: {
            ReadWrite m;
            m.objectId = id;
            m.size = 4096;
            msg = build(h, m);
            break;
          }
          case 1: {
            h.msgType = CREATE;
            Create m;
            m.objectId = id;
            msg = build(h, m);
            break;
          }
          default: {
            h.msgType = PING;
            Ping m;
            m.eagerSize = 4;
            m.data = "+++\n";
            msg = build(h, m);
            break;
          }
        }
        if (!c.send(msg)) {
          printf("send failed\n");
          return 1;
        }
        sent++;
      }
    }
    c.progress(0);
    replies += c.inbox().size();
    c.inbox().clear();
  }
  Message stray;
  while (c.waitAny(300, stray)) replies++;
  printf("forged sent=%llu replies=%llu\n", (unsigned long long)sent, (unsigned long long)replies);
  Ping p;
  p.eagerSize = 4;
  p.data = "ping";
  Message pong;
  bool alive = c.send(build(c.header(PING), p)) && c.waitFor(PONG, 4000, pong);
  printf("alive=%d\n", alive ? 1 : 0);
  return alive ? 0 : 1;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: iocatcher-live-fuzz IP PORT fuzz [--count N] [--seed S] [--tcp-junk N]\n"
                    "       iocatcher-live-fuzz IP PORT case NAME\n");
    return 2;
  }
  std::string ip = argv[1], port = argv[2], mode = argv[3];
  try {
    if (mode == "case" && argc >= 5) return runCase(ip, port, argv[4]);
    if (mode == "forge") {
      uint64_t ids = 8, rounds = 10;
      for (int i = 4; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        uint64_t v = strtoull(argv[i + 1], nullptr, 10);
        if (a == "--ids") ids = v;
        else if (a == "--rounds") rounds = v;
      }
      return runForge(ip, port, ids, rounds);
    }
    if (mode == "fuzz") {
      uint64_t count = 2000, seed = 1, tcp = 200;
      for (int i = 4; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        uint64_t v = strtoull(argv[i + 1], nullptr, 10);
        if (a == "--count") count = v;
        else if (a == "--seed") seed = v;
        else if (a == "--tcp-junk") tcp = v;
      }
      return runFuzz(ip, port, count, seed, tcp);
    }
  } catch (const std::exception &e) {
    printf("error: %s\n", e.what());
    return 1;
  }
  fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
