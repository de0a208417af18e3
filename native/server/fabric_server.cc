#include "server/fabric_server.h"

#include <sched.h>

#include <errno.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <thread>

#include "server/log.h"
#include "server/test_hooks.h"

namespace ioc {
namespace server {

using namespace proto;

static constexpr size_t RECV_SLOTS = 64;
static constexpr size_t PARKED_MAX = 4096;  // requests waiting for the cache, beyond: EAGAIN

FabricServer::FabricServer(const ServerOptions &opts, fabric::Transport &transport, SegmentCache &cache,
                           RangeRegistry &ranges, TcpChannel &tcp)
    : opts_(opts), transport_(transport), cache_(cache), ranges_(ranges), tcp_(tcp) {
  recvBuf_.reset(new char[RECV_SLOTS * MSG_BUFFER_SIZE]);
  if (transport_.needsLocalMr()) {
    recvMr_ = fabric::MemoryRegion(transport_.domain, transport_.info, recvBuf_.get(), RECV_SLOTS * MSG_BUFFER_SIZE,
                                   FI_RECV, nextMrKey_++);
    recvDesc_ = recvMr_.desc();
  }
  recvOps_.resize(RECV_SLOTS);
  addSendSlots();
  spareBuf_.reset(new char[MSG_BUFFER_SIZE]);
  spareSend_.kind = OpKind::Send;
  spareSend_.buf = spareBuf_.get();
  spareSend_.spare = true;
  for (size_t i = 0; i < RECV_SLOTS; i++) {
    recvOps_[i].kind = OpKind::Recv;
    recvOps_[i].buf = recvBuf_.get() + i * MSG_BUFFER_SIZE;
    if (!postRecv(&recvOps_[i]))
      throw std::runtime_error("the provider accepts only " + std::to_string(i) + " posted receives, the server needs " +
                               std::to_string(RECV_SLOTS) + " (is FI_OFI_RXM_RX_SIZE set lower?)");
  }
}

FabricServer::~FabricServer() = default;

// False when the provider keeps refusing (EAGAIN) for a second: its receive queue is smaller
// than our slots. Looping on would hang the server (it did at startup with a small
// FI_OFI_RXM_RX_SIZE, deaf even to SIGTERM).
bool FabricServer::postRecv(RecvOp *op) {
  auto start = std::chrono::steady_clock::now();
  for (;;) {
    ssize_t ret = transport_.ep.postRecv(op->buf, MSG_BUFFER_SIZE, recvDesc_, op);
    if (ret == 0) return true;
    if (ret != -FI_EAGAIN) throw fabric::FabricError("fi_recv", (int)ret);
    if (std::chrono::steady_clock::now() - start > std::chrono::seconds(1)) return false;
    progress();
  }
}

void FabricServer::progress() {
  fabric::Completion c[16];
  size_t n = transport_.cq.poll(c, 16);
  for (size_t i = 0; i < n; i++) onCompletion(c[i]);
}

void FabricServer::onCompletion(const fabric::Completion &c) {
  Op *op = static_cast<Op *>(c.context);
  if (!op) return;
  switch (op->kind) {
    case OpKind::Recv:
      if (c.error) {
        log(LOG_WARN, "fabric", "receive failed: %s", fi_strerror(-c.error));
        if (!postRecv(static_cast<RecvOp *>(op)))
          log(LOG_ERROR, "fabric", "fi_recv: the provider refuses another posted receive; serving with one slot less");
      } else {
        readyRecvs_.emplace_back(static_cast<RecvOp *>(op), c.len);
      }
      break;
    case OpKind::Send:
      onSendCompletion(static_cast<SendOp *>(op), c.error);
      break;
    case OpKind::Rma: {
      Request *req = static_cast<RmaOp *>(op)->req;
      if (c.error && !req->error) {
        req->error = c.error == -FI_ECANCELED ? -ECANCELED : -EIO;
        log(LOG_WARN, "fabric", "RMA to client %llu failed: %s", (unsigned long long)req->lfClientId,
            fi_strerror(-c.error));
      }
      if (--req->pending == 0) doneRequests_.push_back(req);
      if (req->stalled && req->pending == 1) {
        log(LOG_WARN, "server", "test hook: in-place write of tcp client %llu stalled mid-transfer (first half landed)",
            (unsigned long long)req->tcpClientId);
        if (req->stalledClientGone) {
          req->pending = 0;
          doneRequests_.push_back(req);
        }
      }
      break;
    }
  }
}

// After -FI_EAGAIN: drive progress and say whether to try again. A peer that went away can
// make the provider answer EAGAIN forever (it keeps reconnecting): give up after limitMs.
bool FabricServer::retryAfterEagain(std::chrono::steady_clock::time_point start, int limitMs) {
  progress();
  auto waited = std::chrono::steady_clock::now() - start;
  if (waited > std::chrono::milliseconds(limitMs)) return false;
  if (waited > std::chrono::milliseconds(1)) std::this_thread::sleep_for(std::chrono::microseconds(50));
  return true;
}

void FabricServer::sendResponse(uint64_t msgType, uint64_t lfClientId, fi_addr_t peer, int32_t status,
                                uint64_t dataSize, const std::vector<Piece> *data) {
  if (status < 0) metrics_.errorReply(msgType, status);
  if (originalErrors_ && status < 0) status = -1;
  SendOp *op = acquireSend();
  Writer w(op->buf, MSG_BUFFER_SIZE);
  Header h;
  h.msgType = msgType;
  h.lfClientId = lfClientId;
  h.setEcho(curEcho_);
  h.encode(w);
  w.put(dataSize);
  w.put(status);
  w.putBool(data != nullptr);
  if (data)
    for (const Piece &p : *data) w.putBytes(p.ptr, p.len);
  if (!w.ok()) {  // cannot happen for eager sizes; never send a partial message
    releaseSend(op);
    log(LOG_ERROR, "fabric", "response %s does not fit a message", msgTypeName(msgType));
    return;
  }
  if (duplicateReplies_) {
    SendOp *copy = acquireSend();
    memcpy(copy->buf, op->buf, w.size());
    postSend(copy, w.size(), peer);
  }
  postSend(op, w.size(), peer);
}

void FabricServer::run(const std::atomic<bool> &stop) {
  auto lastStats = std::chrono::steady_clock::now(), lastCacheStats = lastStats;
  auto spinUntil = std::chrono::steady_clock::now();
  while (!stop.load()) {
    drainClientGone();
    fabric::Completion c[16];
    size_t n = 0;
    // Right after work, poll a little before sleeping: a client's next request usually
    // follows its reply within microseconds, and a sleep + wake-up costs ~50 us here.
    if (!opts_.activePolling && spinUs_ > 0 && std::chrono::steady_clock::now() < spinUntil) {
      n = transport_.cq.poll(c, 16);
      if (n == 0) {
        sched_yield();  // clients beside us on a small machine get the CPU meanwhile
        continue;
      }
    } else {
      // Messages waiting on the provider (EAGAIN) are retried soon, not at the next 200 ms tick.
      // Drains waiting for writes to settle start within a few ms of it, not at the next tick.
      int waitMs = retrySendsSoon_ ? 5 : cache_.drainsWaiting() ? 10 : 200;
      n = opts_.activePolling ? transport_.cq.poll(c, 16) : transport_.cq.wait(c, 16, waitMs);
    }
    if (n) spinUntil = std::chrono::steady_clock::now() + std::chrono::microseconds(spinUs_);
    for (size_t i = 0; i < n; i++) onCompletion(c[i]);
    drainWork();
    if (cache_.runCompletions()) spinUntil = std::chrono::steady_clock::now() + std::chrono::microseconds(spinUs_);
    if (!parked_.empty()) retryParked();
    drainWork();
    pumpSends();
    serveControl();
    auto now = std::chrono::steady_clock::now();
    if (!inflight_.empty()) expireRequests();
    if (opts_.verbose && now - lastStats >= std::chrono::seconds(1)) {
      lastStats = now;
      printStats();
    }
    if (statsRequested_.exchange(false)) {
      logCacheStats(false);
    } else if (opts_.statsInterval > 0 && now - lastCacheStats >= std::chrono::seconds(opts_.statsInterval)) {
      lastCacheStats = now;
      logCacheStats(true);  // periodic, but an idle server does not repeat itself
    }
  }
  broadcastFatal("server shutting down");
  stopTransfers();
  std::lock_guard<std::mutex> lock(ctlMu_);
  ctlStopped_ = true;
  ctlPending_ = false;
  ctlAnswer_ = "{\"error\":\"server shutting down\"}";
  ctlCv_.notify_all();
}

void FabricServer::drainWork() {
  while (!readyRecvs_.empty() || !doneRequests_.empty()) {
    if (!doneRequests_.empty()) {
      Request *req = doneRequests_.front();
      doneRequests_.pop_front();
      finishRequest(req);
      continue;
    }
    auto [op, len] = readyRecvs_.front();
    readyRecvs_.pop_front();
    dispatch(op->buf, len);
    if (!postRecv(op))
      log(LOG_ERROR, "fabric", "fi_recv: the provider refuses another posted receive; serving with one slot less");
  }
  persistAndAck();  // the writes of this round share one persist (--nvdimm)
}

void FabricServer::dispatch(const char *buf, size_t len, const Parked *again) {
  curTimed_ = curAsync_ = false;
  curStart_ = again ? again->arrived : std::chrono::steady_clock::now();
  parkRequested_ = false;
  replaying_ = again != nullptr;
  try {
    handleMessage(buf, len);
  } catch (const std::exception &e) {
    log(LOG_ERROR, "server", "request failed: %s", e.what());
  }
  replaying_ = false;
  if (parkRequested_) {
    parkRequested_ = false;
    if (parked_.size() >= PARKED_MAX) {
      log(LOG_WARN, "server", "%zu requests wait for the cache already: %s refused (EAGAIN)", parked_.size(),
          msgTypeName(curType_));
      return sendResponse(parkAs_.ackType, parkAs_.lfClientId, parkAs_.peer, -EAGAIN);
    }
    Parked p = parkAs_;
    p.msg.assign(buf, buf + len);
    p.arrived = curStart_;
    p.deadline = again ? again->deadline : curStart_ + std::chrono::seconds(opts_.rmaTimeoutSec);
    // A fenced write waits no longer than its deadline (after it, it could not be applied).
    if (curFenceNs_) p.deadline = std::min(p.deadline, fenceTime(curFenceNs_));
    parked_.push_back(std::move(p));
    return;
  }
  if (curTimed_ && !curAsync_) metrics_.latency(curType_, std::chrono::steady_clock::now() - curStart_);
}

void FabricServer::park(uint64_t ackType, uint64_t lfClientId, fi_addr_t peer) {
  parkRequested_ = true;
  parkAs_.ackType = ackType;
  parkAs_.lfClientId = lfClientId;
  parkAs_.peer = peer;
  parkAs_.echo = curEcho_;
}

// Handle the waiting requests again once the cache made progress (in arrival order); answer
// those past their deadline.
void FabricServer::retryParked() {
  auto now = std::chrono::steady_clock::now();
  bool progressed = cache_.progressCount() != parkedProgress_;
  parkedProgress_ = cache_.progressCount();
  std::deque<Parked> waiting;
  waiting.swap(parked_);
  while (!waiting.empty()) {
    Parked p = std::move(waiting.front());
    waiting.pop_front();
    if (now >= p.deadline) {
      log(LOG_WARN, "server", "a request waited %.3f s for the cache (store or in-place write): ETIMEDOUT",
          std::chrono::duration<double>(now - p.arrived).count());
      curEcho_ = p.echo;
      sendResponse(p.ackType, p.lfClientId, p.peer, -ETIMEDOUT);
      continue;
    }
    if (!progressed) {
      parked_.push_back(std::move(p));
      continue;
    }
    dispatch(p.msg.data(), p.msg.size(), &p);
  }
}

void FabricServer::handleMessage(const char *buf, size_t len) {
  uint64_t sequence = 0;
  // Decoders see the original layout: the trailer and a write's deadline are taken off.
  curFenceNs_ = 0;
  if (!noTrailer_) len = splitRequestTrailer(buf, len, sequence, &curFenceNs_);
  if (noFencing_) curFenceNs_ = 0;
  curEcho_ = noEcho_ ? 0 : sequence;
  Reader r(buf, len);
  Header h;
  if (!h.decode(r)) {
    log(LOG_WARN, "protocol", "dropped a truncated message (%zu bytes)", len);
    metrics_.dropped();
    return;
  }
  if (!replaying_) metrics_.request(h.msgType);
  curType_ = h.msgType;
  curTimed_ = true;
  if (h.msgType == CONNECT_INIT) return handleConnect(h, r);
  auto it = clients_.find(h.lfClientId);
  if (it == clients_.end() || !tcp_.authorized(h.tcpClientId, h.tcpClientKey) ||
      (opts_.auth && h.tcpClientId != it->second.tcpClientId)) {
    // BAD_AUTH goes only to the owner of TCP credentials this message proved (right key):
    // never to the client whose lf id or TCP id was used, which anyone can guess (small
    // sequential numbers). An unsolicited BAD_AUTH was taken by the original client, and ours
    // before request echoes, as the answer to its call in flight. With no proven credentials
    // the sender cannot be known and the message is dropped.
    const std::pair<const uint64_t, LfClient> *to = senderOf(h.tcpClientId, h.tcpClientKey);
    log(LOG_WARN, "auth", "%s %s from lf client id %llu (tcp client %llu)%s",
        it == clients_.end() ? "unknown client id in" : "bad credentials in", msgTypeName(h.msgType),
        (unsigned long long)h.lfClientId, (unsigned long long)h.tcpClientId, to ? ": BAD_AUTH" : ": dropped");
    if (to) sendResponse(BAD_AUTH, to->first, to->second.addr, -1);
    else metrics_.dropped();
    return;
  }
  const LfClient &client = it->second;
  auto reply = [&](uint64_t type, int32_t status) { sendResponse(type, h.lfClientId, client.addr, status); };
  auto ackOf = [](uint64_t type) -> uint64_t {
    switch (type) {
      case PING: return PONG;
      case OBJ_READ: case OBJ_WRITE: return READ_WRITE_ACK;
      case FLUSH: return FLUSH_ACK;
      case CREATE: return CREATE_ACK;
      case RANGE_REGISTER: return RANGE_REGISTER_ACK;
      case RANGE_UNREGISTER: return RANGE_UNREGISTER_ACK;
      case COW: return COW_ACK;
      default: return ERROR_ACK;
    }
  };
  if (len > opts_.maxMessage) {
    log(LOG_WARN, "protocol", "refused a %zu-byte %s from client %llu (--max-message %llu)", len,
        msgTypeName(h.msgType), (unsigned long long)h.lfClientId, (unsigned long long)opts_.maxMessage);
    return reply(ackOf(h.msgType), -EMSGSIZE);
  }
  // A range [offset, offset+size) must not overflow nor reach past --max-object-size.
  auto badRange = [&](uint64_t offset, uint64_t size, const char *what) -> int {
    int err = 0;
    if (offset + size < offset) err = -EINVAL;
    else if (offset + size > opts_.maxObjectSize) err = -EFBIG;
    if (err)
      log(LOG_WARN, "protocol", "refused %s from client %llu: range %llu+%llu %s", what, (unsigned long long)h.lfClientId,
          (unsigned long long)offset, (unsigned long long)size,
          err == -EINVAL ? "overflows" : "ends past --max-object-size");
    return err;
  };
  switch (h.msgType) {
    case PING:
      return handlePing(h, client, r);
    case OBJ_READ:
      return handleReadWrite(h, client, r, false);
    case OBJ_WRITE:
      return handleReadWrite(h, client, r, true);
    case FLUSH: {
      Flush m;
      if (!decodePayload(r, m)) return reply(FLUSH_ACK, -EINVAL);
      if (int err = badRange(m.offset, m.size, "FLUSH")) return reply(FLUSH_ACK, err);
      // The store works on its own threads; the ack goes out when it is done.
      uint64_t lf = h.lfClientId, echo = curEcho_;
      fi_addr_t peer = client.addr;
      return cache_.startFlush(m.objectId, m.offset, m.size, [this, lf, peer, echo](int ret) {
        curEcho_ = echo;
        sendResponse(FLUSH_ACK, lf, peer, ret);
      });
    }
    case CREATE: {
      Create m;
      if (!decodePayload(r, m)) return reply(CREATE_ACK, -EINVAL);
      uint64_t lf = h.lfClientId, echo = curEcho_;
      fi_addr_t peer = client.addr;
      return cache_.startCreate(m.objectId, [this, lf, peer, echo](int ret) {
        curEcho_ = echo;
        sendResponse(CREATE_ACK, lf, peer, ret);
      });
    }
    case RANGE_REGISTER: {
      RegisterRange m;
      if (!decodePayload(r, m)) return reply(RANGE_REGISTER_ACK, -EINVAL);
      if (int err = badRange(m.offset, m.size, "RANGE_REGISTER")) return reply(RANGE_REGISTER_ACK, err);
      return reply(RANGE_REGISTER_ACK, ranges_.add(m.objectId, m.offset, m.size, m.write, client.tcpClientId));
    }
    case RANGE_UNREGISTER: {
      UnregisterRange m;
      if (!decodePayload(r, m)) return reply(RANGE_UNREGISTER_ACK, -EINVAL);
      reply(RANGE_UNREGISTER_ACK, ranges_.remove(m.id, m.objectId, m.offset, m.size, m.write, client.tcpClientId));
      return countUnregisterForHoldHook();
    }
    case COW: {
      Cow m;
      if (!decodePayload(r, m)) return reply(COW_ACK, -EINVAL);
      if (int err = badRange(m.rangeOffset, m.rangeSize, "COW")) return reply(COW_ACK, err);
      uint64_t lf = h.lfClientId, echo = curEcho_;
      fi_addr_t peer = client.addr;
      int ret = cache_.cow(m.src, m.dst, m.allowExist, m.rangeOffset, m.rangeSize, [this, lf, peer, echo](int r) {
        curEcho_ = echo;
        sendResponse(COW_ACK, lf, peer, r);
      });
      if (ret == SegmentCache::kBusy) return park(COW_ACK, h.lfClientId, client.addr);
      if (ret < 0) return reply(COW_ACK, ret);
      return;  // answered when the store threads are done
    }
    default:
      log(LOG_WARN, "protocol", "refused message of unknown type %llu (%s) from client %llu",
          (unsigned long long)h.msgType, msgTypeName(h.msgType), (unsigned long long)h.lfClientId);
      return reply(ERROR_ACK, -ENOSYS);
  }
}

void FabricServer::handleConnect(const Header &h, Reader &r) {
  FirstClientMessage m;
  if (!decodePayload(r, m)) {
    log(LOG_WARN, "protocol", "dropped a malformed CONNECT_INIT");
    metrics_.dropped();
    return;
  }
  // An address of another format than ours must never reach fi_av_insert: with libfabric 1.17
  // (tcp;ofi_rxm) one failed insert leaves the address vector refusing every later client
  // (found by the live fuzzer, test/fuzz.test.ts).
  uint32_t format = transport_.info->addr_format;
  if (format == FI_SOCKADDR_IN || format == FI_SOCKADDR_IN6 || format == FI_SOCKADDR) {
    sa_family_t family;
    memcpy(&family, m.addr, sizeof family);
    bool ok = (family == AF_INET && format != FI_SOCKADDR_IN6 && m.addrLen >= sizeof(sockaddr_in)) ||
              (family == AF_INET6 && format != FI_SOCKADDR_IN && m.addrLen >= sizeof(sockaddr_in6));
    if (!ok) {
      log(LOG_WARN, "protocol", "refused a CONNECT_INIT with an invalid address (family %u, %zu bytes)",
          (unsigned)family, m.addrLen);
      return;
    }
  }
  fi_addr_t addr;
  try {
    addr = transport_.av.insert(m.addr);
  } catch (const fabric::FabricError &e) {
    log(LOG_WARN, "fabric", "cannot add a client address: %s", e.what());
    metrics_.dropped();
    return;
  }
  uint64_t id = nextLfClientId_++;
  // Test hook: leave the first N handshakes unanswered, as libfabric 1.17 rarely loses an
  // ASSIGN_ID (the client must retry on a new endpoint; test/reliability.test.ts).
  static int unanswered = getenv("IOC_TEST_UNANSWERED_CONNECTS") ? atoi(getenv("IOC_TEST_UNANSWERED_CONNECTS")) : 0;
  if (unanswered > 0) {
    unanswered--;
    log(LOG_WARN, "server", "test hook: CONNECT_INIT of tcp client %llu left unanswered", (unsigned long long)h.tcpClientId);
    return;
  }
  if (!tcp_.authorized(h.tcpClientId, h.tcpClientKey)) {
    log(LOG_WARN, "auth", "bad credentials in CONNECT_INIT (tcp client %llu)", (unsigned long long)h.tcpClientId);
    return sendResponse(BAD_AUTH, id, addr, -1);
  }
  clients_[id] = {addr, h.tcpClientId};
  SendOp *op = acquireSend();
  Header out;
  out.msgType = ASSIGN_ID;
  out.lfClientId = id;
  FirstHandshake fh;
  fh.assignLfClientId = id;
  // Clients tell a restart from a reconnect by the epoch: a mapping then knows that what this
  // server acknowledged before (only in memory without --nvdimm) is gone.
  static const uint64_t epoch = [] {
    uint64_t e = 0;
    if (getrandom(&e, sizeof e, 0) != sizeof e) e = (uint64_t)time(nullptr) << 20 ^ (uint64_t)getpid();
    return e ? e : 1;
  }();
  fh.hasServerInfo = !originalErrors_;
  fh.serverEpoch = epoch;
  fh.durableWrites = !opts_.nvdimm.empty();
  // Fencing: our clock, from which the client derives a lower bound of (our clock - its clock)
  // and so deadlines on our clock that are never later than its own (RequestDeadline).
  fh.fencing = fh.hasServerInfo && !noFencing_;
  fh.serverClockNs = monoNs();
  postSend(op, encodeMessage(op->buf, MSG_BUFFER_SIZE, out, fh), addr);
  log(LOG_DEBUG, "server", "client %llu connected (tcp client %llu)", (unsigned long long)id,
      (unsigned long long)h.tcpClientId);
}

const std::pair<const uint64_t, FabricServer::LfClient> *FabricServer::senderOf(uint64_t tcpClientId,
                                                                                   uint64_t tcpClientKey) {
  if (!tcp_.authorized(tcpClientId, tcpClientKey)) return nullptr;
  for (auto &kv : clients_)
    if (kv.second.tcpClientId == tcpClientId) return &kv;
  return nullptr;
}

void FabricServer::broadcastFatal(const std::string &message) {
  for (auto &kv : clients_) {
    SendOp *op = acquireSend();
    Header h;
    h.msgType = FATAL_ERROR;
    h.lfClientId = kv.first;
    ErrorMessage m;
    m.message = message;
    postSend(op, encodeMessage(op->buf, MSG_BUFFER_SIZE, h, m), kv.second.addr);
  }
  // Give the messages a moment to leave (bounded: a peer that does not read is not waited for).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  while (std::chrono::steady_clock::now() < deadline) {
    pumpSends();
    bool busy = false;
    for (auto &kv : peerSends_) busy = busy || kv.second.posted || !kv.second.waiting.empty();
    if (!busy) break;
    progress();
  }
}

void FabricServer::clientGone(uint64_t tcpClientId) {
  {
    std::lock_guard<std::mutex> lock(goneMu_);
    gone_.push_back(tcpClientId);
  }
  wake();
}

void FabricServer::drainClientGone() {
  std::vector<uint64_t> gone;
  {
    std::lock_guard<std::mutex> lock(goneMu_);
    gone.swap(gone_);
  }
  for (uint64_t id : gone) {
    for (auto held = heldInPlace_.begin(); held != heldInPlace_.end();) {
      if ((*held)->tcpClientId != id) {
        ++held;
        continue;
      }
      Request *req = *held;
      held = heldInPlace_.erase(held);
      log(LOG_WARN, "server", "test hook: the held in-place write of tcp client %llu fails (client gone)",
          (unsigned long long)id);
      req->error = -EIO;
      finishRequest(req);
    }
    for (auto &kv : inflight_) {
      Request *req = kv.first;
      if (!req->stalled || req->tcpClientId != id || req->stalledClientGone) continue;
      req->stalledClientGone = true;
      if (!req->error) req->error = -EIO;  // cut off by the client's death
      if (req->pending == 1) {  // the posted half is done: nothing of the provider's is left
        req->pending = 0;
        doneRequests_.push_back(req);
      }
    }
    for (auto held = heldWrites_.begin(); held != heldWrites_.end();) {
      if ((*held)->tcpClientId != id) {
        ++held;
        continue;
      }
      Request *req = *held;
      held = heldWrites_.erase(held);
      finishRequest(req);  // heldOnce: not held again; its reply goes nowhere
    }
    size_t n = ranges_.releaseOwner(id);
    for (auto it = clients_.begin(); it != clients_.end();)
      it = it->second.tcpClientId == id ? clients_.erase(it) : std::next(it);
    log(LOG_DEBUG, "server", "tcp client %llu gone, released %zu ranges", (unsigned long long)id, n);
  }
}

}  // namespace server
}  // namespace ioc
