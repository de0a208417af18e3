#include "client/connection.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "common/failpoint.h"

namespace ioc {
namespace client {

using namespace proto;
using Clock = std::chrono::steady_clock;

static std::atomic<uint64_t> g_nextKey{1};
static std::atomic<uint64_t> g_discardedReplies{0};  // by every connection of the process

// Request sequences, unique across the connections of this process (a reply that reaches
// another connection of the same handle never matches), starting at a random point.
static uint64_t nextSequence() {
  static std::atomic<uint64_t> next{[] {
    std::random_device rd;
    return ((uint64_t)rd() << 32) ^ rd();
  }()};
  uint64_t s;
  do s = next++;
  while (s == 0);  // 0 means "no sequence"
  return s;
}

static constexpr unsigned HANDSHAKE_ATTEMPT_MS = 2000;


bool clientDebug() {
  static const bool on = getenv("IOC_DEBUG") || getenv("IOC_CLIENT_DEBUG");
  return on;
}

void applyProviderDefaults() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char *vars[] = {"FI_OFI_RXM_MSG_RX_SIZE", "FI_OFI_RXM_RX_SIZE"};
    std::vector<const char *> set;
    for (const char *v : vars)
      if (!getenv(v) && setenv(v, "32", 0) == 0) set.push_back(v);
    fi_info *info = nullptr;  // any query initialises libfabric and its providers, which read them
    if (fi_getinfo(FI_VERSION(1, 11), nullptr, nullptr, 0, nullptr, &info) == 0) fi_freeinfo(info);
    for (const char *v : set) unsetenv(v);
  });
}

Connection::Connection(const ConnectOptions &opts, std::shared_ptr<SideChannel> side)
    : opts_(opts), side_(std::move(side)) {
  applyProviderDefaults();
  if (!side_) side_ = std::make_shared<SideChannel>(opts_);
  tcp_ = side_->credentials();
  // The fabric handshake: CONNECT_INIT with our endpoint's address, answered by ASSIGN_ID.
  // With libfabric 1.17's tcp;ofi_rxm, about one connection in a few thousand, made while the
  // server is busy accepting others, never gets its ASSIGN_ID although the server sent it
  // (both sockets empty, no provider warning). A fresh endpoint then connects at once, so an
  // attempt that gets no answer within HANDSHAKE_ATTEMPT_MS is retried on a new endpoint,
  // within the connect timeout. The server keeps the lost attempt's id until our TCP side
  // channel closes.
  auto deadline = connectDeadline(opts_);  // the configured timeout governs (side channel included)
  unsigned saved = opts_.timeoutMs;
  std::string failure;
  int ret = -ETIMEDOUT;
  for (int attempt = 1;; attempt++) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    bool last = left <= (long)HANDSHAKE_ATTEMPT_MS * 3 / 2;
    opts_.timeoutMs = (unsigned)std::max<long>(1, last ? left : HANDSHAKE_ATTEMPT_MS);
    std::vector<char> name;
    try {
      openEndpoint();
      name = transport_->ep.name();
    } catch (const fabric::FabricError &e) {
      closeEndpoint();
      throw ConnectError(ENETUNREACH, e.what());
    }
    ret = handshake(name);
    if (ret == 0) break;
    failure = handshakeState(name);
    closeEndpoint();
    if (ret != -ETIMEDOUT || last) break;
    if (clientDebug())
      fprintf(stderr, "iocatcher-client: %s:%s: no ASSIGN_ID within %u ms (attempt %d: %s); retrying on a new endpoint\n",
              opts_.ip.c_str(), opts_.port.c_str(), opts_.timeoutMs, attempt, failure.c_str());
  }
  opts_.timeoutMs = saved;
  if (ret < 0) {
    throw ConnectError(-ret, std::string("connection handshake failed: ") + strerror(-ret) + " (" + failure + ")");
  }
}

// A fresh libfabric endpoint towards the server, with our receive buffers posted.
void Connection::openEndpoint() {
  fabric::Options fo;
  fo.provider = opts_.provider;
  fo.node = opts_.ip;
  fo.service = opts_.port;
  transport_.reset(new fabric::Transport(fo, 64));
  providerName_ = transport_->info.providerName();
  server_ = transport_->av.insert(transport_->info->dest_addr);
  size_t total = (RECV_SLOTS + 1) * MSG_BUFFER_SIZE;
  if (!buffers_) buffers_.reset(new char[total]);
  if (transport_->needsLocalMr()) {
    buffersMr_ = fabric::MemoryRegion(transport_->domain, transport_->info, buffers_.get(), total,
                                      FI_SEND | FI_RECV, g_nextKey++);
    desc_ = buffersMr_.desc();
  }
  broken_ = false;
  sendBusy_ = false;
  pending_.clear();
  lastError_.clear();
  for (size_t i = 0; i < RECV_SLOTS; i++) {
    recv_[i].buf = buffers_.get() + i * MSG_BUFFER_SIZE;
    repost(recv_[i].buf);
  }
  send_.buf = buffers_.get() + RECV_SLOTS * MSG_BUFFER_SIZE;
}

void Connection::closeEndpoint() {
  buffersMr_ = fabric::MemoryRegion();
  desc_ = nullptr;
  transport_.reset();
}

// CONNECT_INIT with our address; 0 once ASSIGN_ID gave us our client id.
int Connection::handshake(const std::vector<char> &name) {
  FirstClientMessage first;
  first.addrLen = std::max(name.size(), FirstClientMessage::ORIGINAL_ADDR_SIZE);
  if (name.size() > CLIENT_ADDR_MAX) return -EINVAL;
  memcpy(first.addr, name.data(), name.size());
  return call(
      CONNECT_INIT, [&](Writer &w) { first.encode(w); }, ASSIGN_ID,
      [&](uint64_t, Reader &r) {
        FirstHandshake fh;
        if (!fh.decode(r)) return -EPROTO;  // later fields a newer server may add are ignored
        if (fh.protocolVersion != PROTOCOL_VERSION) return -EPROTONOSUPPORT;
        lfClientId_ = fh.assignLfClientId;
        serverEpoch_ = fh.hasServerInfo ? fh.serverEpoch : 0;
        serverDurable_ = fh.hasServerInfo && fh.durableWrites;
        errnoStatuses_ = fh.hasServerInfo;
        features_ = fh.hasServerInfo ? fh.features : 0;
        // The server stamped its clock before sending: at this moment its clock reads at least
        // that stamp, so stamp - our clock now is a lower bound of the difference.
        fencing_ = fh.hasServerInfo && fh.fencing && !IOC_FAILPOINT(client_no_fencing);
        leadTakenAt_ = Clock::now();
        serverLeadNs_ = fh.serverClockNs -
                        std::chrono::duration_cast<std::chrono::nanoseconds>(leadTakenAt_.time_since_epoch()).count();
        return 0;
      });
}

// Where a handshake that failed got to, for the error message: whether our CONNECT_INIT left,
// and with clientDebug() the kernel's view of the TCP connections between the provider's
// endpoints (both ends are on this host when the server is on loopback).
std::string Connection::handshakeState(const std::vector<char> &ourName) const {
  std::string out = lastError_.empty() ? "" : lastError_ + "; ";
  out += sendRetries_ && !sendBusy_ && !sendPosted_ ? "our CONNECT_INIT could not be posted"
         : sendBusy_                                 ? "our CONNECT_INIT was posted, its send did not complete"
                                                     : "our CONNECT_INIT was sent, no ASSIGN_ID came back";
  if (sendRetries_) out += " (fi_send said EAGAIN " + std::to_string(sendRetries_) + " times)";
  if (!clientDebug() || ourName.size() < sizeof(sockaddr_in)) return out;
  sockaddr_in ours;
  memcpy(&ours, ourName.data(), sizeof ours);
  unsigned ourPort = ntohs(ours.sin_port), serverPort = (unsigned)atoi(opts_.port.c_str());
  static const char *states[] = {"?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT",
                                 "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING"};
  FILE *f = fopen("/proc/net/tcp", "r");
  if (!f) return out;
  char line[512];
  out += "; tcp sockets of ports " + std::to_string(ourPort) + " (ours) and " + std::to_string(serverPort) + ":";
  while (fgets(line, sizeof line, f)) {
    unsigned la, lp, ra, rp, st, tx, rx;
    if (sscanf(line, " %*d: %8X:%4X %8X:%4X %2X %8X:%8X", &la, &lp, &ra, &rp, &st, &tx, &rx) != 7) continue;
    if (lp != ourPort && rp != ourPort && lp != serverPort && rp != serverPort) continue;
    out += " [" + std::to_string(lp) + "->" + std::to_string(rp) + " " + (st < 12 ? states[st] : "?") +
           " tx " + std::to_string(tx) + " rx " + std::to_string(rx) + "]";
  }
  fclose(f);
  return out;
}

Connection::~Connection() { closeEndpoint(); }

bool Connection::serverGone() { return side_->gone(); }

void Connection::repost(char *buf) {
  Slot *slot = nullptr;
  for (auto &s : recv_)
    if (s.buf == buf) slot = &s;
  for (int attempt = 0;; attempt++) {
    ssize_t ret = transport_->ep.postRecv(buf, MSG_BUFFER_SIZE, desc_, slot);
    if (ret == 0) return;
    if (ret != -FI_EAGAIN || attempt > 100000) {
      broken_ = true;
      lastError_ = std::string("fi_recv: ") + fi_strerror((int)-ret);
      return;
    }
    fabric::Completion c[8];
    size_t n = transport_->cq.poll(c, 8);
    for (size_t i = 0; i < n; i++) pending_.push_back(c[i]);
  }
}

int Connection::postSend(size_t len, Clock::time_point deadline) {
  auto start = Clock::now(), lastCheck = start;
  for (;;) {
    ssize_t ret = transport_->ep.send(send_.buf, len, desc_, server_, &send_);
    if (ret == 0) {
      sendBusy_ = sendPosted_ = true;
      return 0;
    }
    if (ret != -FI_EAGAIN) {
      lastError_ = std::string("fi_send: ") + fi_strerror((int)-ret);
      return -ECONNRESET;
    }
    // EAGAIN: the provider needs progress (e.g. while it connects); never spin forever.
    sendRetries_++;
    fabric::Completion c[8];
    size_t n = transport_->cq.poll(c, 8);
    for (size_t i = 0; i < n; i++) pending_.push_back(c[i]);
    auto now = Clock::now();
    if (opts_.timeoutMs && now >= deadline) {
      lastError_ = "timed out sending to the server";
      return -ETIMEDOUT;
    }
    if (now - lastCheck > std::chrono::milliseconds(10)) {
      lastCheck = now;
      if (serverGone()) {
        lastError_ = "the server closed the connection";
        return -ECONNRESET;
      }
    }
    // While ofi_rxm connects (thousands of EAGAINs), spinning took a whole core here and
    // starved the server that must accept us; after the first millisecond, sleep between tries.
    if (opts_.passiveWait && now - start > std::chrono::milliseconds(1))
      std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

// One completion of the call in flight: our send, or a message from the server. Returns < 0
// when the connection cannot go on.
int Connection::onCompletion(const fabric::Completion &c) {
  if (c.context == &send_) {
    sendBusy_ = false;
    if (c.error) {
      lastError_ = std::string("send failed: ") + fi_strerror(-c.error);
      if (call_.fenced && !call_.replied) {
        // The message may have left before the failure: the server could still apply the write
        // until its deadline, so the call fails then, not now.
        call_.inDoubtError = -ECONNRESET;
        return 0;
      }
      return -ECONNRESET;
    }
    return resendPlain_ ? resendWithoutTrailer() : 0;
  }
  Slot *slot = static_cast<Slot *>(c.context);
  if (!slot) return 0;
  if (c.error) {
    repost(slot->buf);
    return 0;
  }
  Reader r(slot->buf, c.len);
  Header rh;
  if (!rh.decode(r)) {
    repost(slot->buf);
    return 0;
  }
  if (rh.msgType == FATAL_ERROR) {
    ErrorMessage em;
    lastError_ = decodePayload(r, em) ? "server: " + em.message : "server sent FATAL_ERROR";
    repost(slot->buf);
    return -ECONNRESET;
  }
  // A reply echoing another sequence answers an earlier request of ours (late, repeated, or
  // sent to the wrong connection): taking it would shift every later answer by one call. A
  // reply without an echo (an original server) is taken as before.
  uint64_t echoed;
  bool echoes = rh.echo(echoed);
  if ((echoes && echoed != call_.sequence) || (echoes && call_.replied)) {
    uint64_t discarded = ++g_discardedReplies;
    if (clientDebug())
      fprintf(stderr, "iocatcher-client: %s:%s: discarded a %s answering request %llu (waiting for %llu%s; %llu so far)\n",
              opts_.ip.c_str(), opts_.port.c_str(), msgTypeName(rh.msgType), (unsigned long long)echoed,
              (unsigned long long)call_.sequence, call_.replied ? ", answered already" : "",
              (unsigned long long)discarded);
    repost(slot->buf);
    return 0;
  }
  if (echoes) {
    sawEcho_ = true;
  } else if (call_.sequence && !sawEcho_ && !call_.replied && rh.msgType == call_.replyType) {
    Reader peek = r;
    Response resp;
    if (resp.decode(peek) && resp.status == -EINVAL) {  // maybe our trailer: try once without
      if (clientDebug())
        fprintf(stderr, "iocatcher-client: %s:%s: %s refused without echo: resending without the request trailer\n",
                opts_.ip.c_str(), opts_.port.c_str(), msgTypeName(rh.msgType));
      repost(slot->buf);
      resendPlain_ = true;
      return sendBusy_ ? 0 : resendWithoutTrailer();
    }
  }
  if (rh.msgType == BAD_AUTH) {
    call_.status = -EACCES;
    call_.replied = true;
  } else if (rh.msgType == ERROR_ACK && !call_.replied) {  // the server could not serve the request at all
    Response resp;
    call_.status = decodeResponse(r, resp, &replyReason_) && resp.status < 0 ? resp.status : -EPROTO;
    call_.replied = true;
  } else if (rh.msgType == call_.replyType && !call_.replied) {
    // Our server may append a ReplyReason to a failed reply: kept for ioc_client_last_error.
    // (The payload's own decoder, onReply, accepts it too: decodeResponse.)
    if (rh.msgType != ASSIGN_ID) {
      Reader peek = r;
      Response resp;
      std::string why;
      if (decodeResponse(peek, resp, &why) && resp.status < 0) replyReason_ = why;
    }
    call_.status = call_.onReply(rh.msgType, r);
    call_.replied = true;
    // The original server answers every failure with -1, which is no errno (it would read as
    // EPERM): an I/O error of that request. Ours speaks errno codes (its handshake says so).
    if (call_.status == -1 && !errnoStatuses_) {
      call_.status = -EIO;
      lastError_ = std::string("the server answered ") + msgTypeName(call_.requestType) +
                   " with status -1 (an original server: no cause given)";
      if (clientDebug())
        fprintf(stderr, "iocatcher-client: %s:%s: %s: EIO\n", opts_.ip.c_str(), opts_.port.c_str(), lastError_.c_str());
    }
  }
  repost(slot->buf);  // stray messages (none expected) are dropped
  return 0;
}

int Connection::advance() {
  try {
    fabric::Completion c[8];
    size_t n = transport_->cq.poll(c, 8);
    for (size_t i = 0; i < n; i++) pending_.push_back(c[i]);
    while (!pending_.empty()) {
      fabric::Completion one = pending_.front();
      pending_.pop_front();
      int ret = onCompletion(one);
      if (ret < 0) {
        broken_ = true;
        return ret;
      }
    }
  } catch (const std::exception &e) {
    lastError_ = e.what();
    broken_ = true;
    return -EIO;
  }
  return call_.replied && !sendBusy_ ? 1 : 0;
}

int Connection::checkAlive() {
  if (broken_) return -ECONNRESET;
  if (opts_.timeoutMs && Clock::now() >= call_.deadline) {
    // A fenced write's deadline on the server (RequestDeadline) has passed too: from now on
    // the server cannot apply it, so failing it here is final.
    if (call_.inDoubtError) {
      broken_ = true;
      return call_.inDoubtError;
    }
    lastError_ = "timed out waiting for the server";
    broken_ = true;  // a late reply would confuse the next call: this connection is done
    return -ETIMEDOUT;
  }
  if (serverGone()) {
    lastError_ = "the server closed the connection";
    broken_ = true;
    return -ECONNRESET;
  }
  return 0;
}

int Connection::call(uint64_t msgType, const std::function<void(Writer &)> &encodePayload, uint64_t replyType,
                     const ReplyHandler &onReply) {
  // Nothing may escape into the C API (or a Node worker): a failing provider call breaks this
  // connection, and the caller gets an errno-style error.
  try {
    return callUnchecked(msgType, encodePayload, replyType, onReply);
  } catch (const fabric::FabricError &e) {
    lastError_ = e.what();
  } catch (const std::exception &e) {
    lastError_ = e.what();
  }
  broken_ = true;
  return -EIO;
}

int Connection::begin(uint64_t msgType, const std::function<void(Writer &)> &encodePayload, uint64_t replyType,
                      const ReplyHandler &onReply) {
  if (broken_) return -ECONNRESET;
  Writer w(send_.buf, MSG_BUFFER_SIZE);
  Header h;
  h.msgType = msgType;
  h.lfClientId = lfClientId_;
  h.tcpClientId = tcp_.clientId;
  h.tcpClientKey = tcp_.clientKey;
  h.encode(w);
  encodePayload(w);
  auto now = Clock::now();
  auto deadline = now + std::chrono::milliseconds(opts_.timeoutMs);
  // Fencing: a write carries its deadline converted to the server's clock with the lower bound
  // of the clock difference, minus fenceGuard() and an allowance for drift since the bound was
  // taken (500 ppm, the most NTP slews a clock): never later than our own deadline, at which a
  // call without reply fails with ETIMEDOUT. Only to a server that said it takes deadlines.
  bool fenced = fencing_ && msgType == OBJ_WRITE && sendTrailer_ && opts_.timeoutMs;
  if (fenced) {
    RequestDeadline d;
    int64_t ourNs = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        (deadline - fenceGuard(opts_.timeoutMs)).time_since_epoch()).count();
    int64_t driftNs = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - leadTakenAt_).count() / 2000;
    d.serverNs = ourNs + serverLeadNs_ - driftNs;
    if (d.serverNs == 0) d.serverNs = -1;  // 0 means "none" on the wire
    d.encode(w);
  }
  RequestTrailer trailer;
  if (msgType != CONNECT_INIT && sendTrailer_) {
    trailer.sequence = nextSequence();
    trailer.encode(w);
  }
  if (!w.ok()) return -EMSGSIZE;
  call_ = PendingCall();
  replyReason_.clear();
  call_.sequence = trailer.sequence;
  call_.length = w.size();
  call_.fenced = fenced;
  resendPlain_ = false;
  sendRetries_ = 0;
  sendPosted_ = false;
  call_.replyType = replyType;
  call_.requestType = msgType;
  call_.onReply = onReply;
  call_.deadline = deadline;
  int ret = postSend(w.size(), call_.deadline);
  if (ret < 0) broken_ = true;
  return ret;
}

// How much earlier than our deadline of a call the deadline sent to the server is: the time the
// server may take between its last check of the deadline and the end of its copy of the bytes
// into its cache (CPU work of its one thread, no waiting); our own check of our deadline can
// only come later, which is safe. An eighth of the timeout, at least 10 ms, at most 500 ms.
std::chrono::nanoseconds Connection::fenceGuard(unsigned timeoutMs) {
  unsigned ms = std::min(500u, std::max(10u, timeoutMs / 8));
  return std::chrono::milliseconds(ms);
}

int Connection::resendWithoutTrailer() {
  resendPlain_ = false;
  sendTrailer_ = false;
  call_.sequence = 0;
  call_.length -= RequestTrailer::WIRE_SIZE + (call_.fenced ? RequestDeadline::WIRE_SIZE : 0);
  call_.fenced = false;
  return postSend(call_.length, call_.deadline);
}

// Microseconds a passive wait polls before it sleeps (env IOC_CLIENT_SPIN_US, default 50).
// Measured here: a 4 KiB round trip takes ~75 us when both sides sleep and ~30 us with 50 us
// of polling on each side; the spin is bounded, so a slow reply still ends in a blocking wait.
int Connection::spinMicros() {
  static const int us = [] {
    const char *v = getenv("IOC_CLIENT_SPIN_US");
    return v ? std::max(0, std::min(1000, atoi(v))) : 50;
  }();
  return us;
}

int Connection::callUnchecked(uint64_t msgType, const std::function<void(Writer &)> &encodePayload, uint64_t replyType,
                              const ReplyHandler &onReply) {
  // A call moving a registered buffer of more than 64 KiB takes milliseconds: no point polling
  // for its reply, and on a small machine the polling takes the CPU the server needs.
  bool bulk = bulkCall_;
  bulkCall_ = false;
  int ret = begin(msgType, encodePayload, replyType, onReply);
  if (ret < 0) return ret;
  auto lastCheck = Clock::now();
  for (;;) {
    ret = advance();
    if (ret < 0) return ret;
    if (ret == 1) return call_.status;
    // Nothing yet: block in the CQ (passive) or spin on it (active), checking the deadline
    // and the side channel now and then. A passive wait first polls for a few microseconds
    // (IOC_CLIENT_SPIN_US): a reply that is already on its way costs no sleep and wake-up.
    fabric::Completion c[8];
    size_t n = 0;
    if (opts_.passiveWait && spinMicros() > 0 && !bulk) {
      // Yield between polls: with more runnable threads than cores (several clients beside
      // the server on 2 cores), a polling client must not keep the server off the CPU.
      auto spinEnd = Clock::now() + std::chrono::microseconds(spinMicros());
      while (n == 0 && Clock::now() < spinEnd) {
        n = transport_->cq.poll(c, 8);
        if (n == 0) sched_yield();
      }
    }
    if (n == 0) n = opts_.passiveWait ? transport_->cq.wait(c, 8, 50) : transport_->cq.poll(c, 8);
    for (size_t i = 0; i < n; i++) pending_.push_back(c[i]);
    if (n) continue;
    auto now = Clock::now();
    if (opts_.passiveWait || now - lastCheck > std::chrono::milliseconds(20) || now >= call_.deadline) {
      lastCheck = now;
      ret = checkAlive();
      if (ret < 0) return ret;
    }
  }
}

fabric::MemoryRegion Connection::registerBuffer(void *buf, size_t len, Iov &iov) {
  bulkCall_ = len > (64u << 10);  // the next call moves it
  fabric::MemoryRegion mr(transport_->domain, transport_->info, buf, len,
                          FI_REMOTE_READ | FI_REMOTE_WRITE | FI_READ | FI_WRITE, g_nextKey++);
  iov.addr = mr.remoteAddr();
  iov.key = mr.key();
  return mr;
}

}  // namespace client
}  // namespace ioc
