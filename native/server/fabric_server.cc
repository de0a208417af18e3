#include "server/fabric_server.h"

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
static constexpr uint64_t PING_RMA_MAX = 64u << 20;
static constexpr int RMA_RETRY_MS = 5000;
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
      if (n == 0) continue;
    } else {
      // Messages waiting on the provider (EAGAIN) are retried soon, not at the next 200 ms tick.
      int waitMs = retrySendsSoon_ ? 5 : 200;
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
      log(LOG_WARN, "server", "a request waited %d s for the cache (store or in-place write): ETIMEDOUT",
          opts_.rmaTimeoutSec);
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
  if (!noTrailer_) len = splitRequestTrailer(buf, len, sequence);  // decoders see the original layout
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
      return reply(RANGE_UNREGISTER_ACK,
                   ranges_.remove(m.id, m.objectId, m.offset, m.size, m.write, client.tcpClientId));
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
  fh.hasServerInfo = true;
  fh.serverEpoch = epoch;
  fh.durableWrites = !opts_.nvdimm.empty();
  postSend(op, encodeMessage(op->buf, MSG_BUFFER_SIZE, out, fh), addr);
  log(LOG_DEBUG, "server", "client %llu connected (tcp client %llu)", (unsigned long long)id,
      (unsigned long long)h.tcpClientId);
}

void FabricServer::handleReadWrite(const Header &h, const LfClient &c, Reader &r, bool write) {
  ReadWrite m;
  if (!decodePayload(r, m)) return sendResponse(READ_WRITE_ACK, h.lfClientId, c.addr, -EINVAL);
  int err = m.offset + m.size < m.offset ? -EINVAL
            : m.size > opts_.maxTransfer ? -EMSGSIZE
            : m.offset + m.size > opts_.maxObjectSize ? -EFBIG : 0;
  if (err) {
    log(LOG_WARN, "protocol", "refused %s of %llu bytes at %llu from client %llu: %s", write ? "OBJ_WRITE" : "OBJ_READ",
        (unsigned long long)m.size, (unsigned long long)m.offset, (unsigned long long)h.lfClientId,
        err == -EINVAL ? "the range overflows" : err == -EMSGSIZE ? "larger than --max-transfer"
                                                : "ends past --max-object-size");
    return sendResponse(READ_WRITE_ACK, h.lfClientId, c.addr, err);
  }
  bool eager = m.size <= EAGER_MAX;
  if (write && eager && !m.msgHasData) return sendResponse(READ_WRITE_ACK, h.lfClientId, c.addr, -EINVAL);
  std::vector<Piece> pieces;  // pinned in the cache until released
  int ret = cache_.access(m.objectId, m.offset, m.size, write, pieces);
  if (ret == SegmentCache::kBusy) return park(READ_WRITE_ACK, h.lfClientId, c.addr);
  if (ret < 0) return sendResponse(READ_WRITE_ACK, h.lfClientId, c.addr, ret);
  if (write && m.msgHasData) {
    const char *src = m.data;
    for (const Piece &p : pieces) {
      memcpy(p.ptr, src, p.len);
      src += p.len;
    }
    ret = cache_.commit(pieces);  // durable (with --nvdimm) before the ack
    cache_.release(pieces);
    if (ret == 0) {
      bytesWritten_ += m.size;
      metrics_.transfer(true, false, m.size);
    }
    return sendResponse(READ_WRITE_ACK, h.lfClientId, c.addr, ret, ret < 0 ? 0 : m.size);
  }
  if (!write && eager) {
    bytesRead_ += m.size;
    metrics_.transfer(false, false, m.size);
    struct Unpin {
      SegmentCache &cache;
      std::vector<Piece> &pieces;
      ~Unpin() { cache.release(pieces); }
    } unpin{cache_, pieces};  // the response copies the data out, then the pieces are unpinned
    return sendResponse(READ_WRITE_ACK, h.lfClientId, c.addr, 0, m.size, &pieces);
  }
  std::unique_ptr<Request> req(new Request);
  req->ackType = READ_WRITE_ACK;
  req->lfClientId = h.lfClientId;
  req->peer = c.addr;
  req->size = m.size;
  req->write = write;
  req->cached = pieces;  // released by finishRequest, whatever happens to the RMA
  req->tcpClientId = c.tcpClientId;
  if (write)
    bytesWritten_ += m.size;
  else
    bytesRead_ += m.size;
  if (!write) return startRma(std::move(req), pieces, m.iov, write);
  if (cache_.writableInPlace(pieces)) {
    // Only clean segments, nobody else on them: the RMA lands in the cache directly, and the
    // segments are ours until the request ends (others wait).
    req->inPlace = true;
    cache_.beginInPlace(pieces);
    return startRma(std::move(req), pieces, m.iov, write);
  }
  // Stage the client's bytes (same piece boundaries); finishRequest copies them into the cache
  // only when every RMA succeeded.
  size_t capacity = 0;
  std::unique_ptr<char[]> staging = takeStaging(m.size, capacity);
  if (!staging) {
    cache_.release(req->cached);
    return sendResponse(READ_WRITE_ACK, h.lfClientId, c.addr, -ENOMEM);
  }
  req->scratch = std::move(staging);
  req->scratchCapacity = capacity;
  void *desc = nullptr;
  if (transport_.needsLocalMr()) {
    req->scratchMr = fabric::MemoryRegion(transport_.domain, transport_.info, req->scratch.get(), m.size,
                                          FI_READ | FI_WRITE, nextMrKey_++);
    desc = req->scratchMr.desc();
  }
  std::vector<Piece> staged;
  char *at = req->scratch.get();
  for (const Piece &p : pieces) {
    staged.push_back({at, p.len, desc});
    at += p.len;
  }
  startRma(std::move(req), staged, m.iov, write);
}

void FabricServer::handlePing(const Header &h, const LfClient &c, Reader &r) {
  std::unique_ptr<Request> req(new Request);
  if (!decodePayload(r, req->ping) || req->ping.rdmaSize > PING_RMA_MAX)
    return sendResponse(PONG, h.lfClientId, c.addr, -EINVAL);
  req->ackType = PONG;
  req->lfClientId = h.lfClientId;
  req->peer = c.addr;
  // Keep the eager bytes: the receive buffer is reposted before the PONG goes out.
  uint64_t eager = req->ping.eagerSize, rdma = req->ping.rdmaSize;
  req->scratch.reset(new char[eager + rdma + 1]);
  if (eager) memcpy(req->scratch.get(), req->ping.data, eager);
  req->ping.data = req->scratch.get();
  req->echo = curEcho_;
  if (rdma == 0) {
    Request *raw = req.get();
    inflight_[raw] = std::move(req);
    return finishRequest(raw);
  }
  void *desc = nullptr;
  if (transport_.needsLocalMr()) {
    req->scratchMr = fabric::MemoryRegion(transport_.domain, transport_.info, req->scratch.get() + eager, rdma,
                                          FI_READ | FI_WRITE, nextMrKey_++);
    desc = req->scratchMr.desc();
  }
  std::vector<Piece> pieces{{req->scratch.get() + eager, rdma, desc}};
  Iov iov = req->ping.iov;
  startRma(std::move(req), pieces, iov, true);
}

void FabricServer::startRma(std::unique_ptr<Request> req, const std::vector<Piece> &pieces, const Iov &iov,
                            bool write) {
  Request *raw = req.get();
  raw->deadline = std::chrono::steady_clock::now() + std::chrono::seconds(opts_.rmaTimeoutSec);
  raw->msgType = curType_;  // metrics: the reply is timed when the RMA completes
  raw->started = curStart_;
  raw->echo = curEcho_;
  curAsync_ = true;
  inflight_[raw] = std::move(req);
  raw->ops.resize(pieces.size());
  raw->pending = pieces.size() + 1;  // +1 until every op is posted
  uint64_t remote = iov.addr;
  for (size_t i = 0; i < pieces.size(); i++) {
    RmaOp *op = &raw->ops[i];
    op->kind = OpKind::Rma;
    op->req = raw;
    const Piece &p = pieces[i];
    auto start = std::chrono::steady_clock::now();
    for (;;) {
      // Server-driven RMA: a client write is our fi_read from its buffer, a read our fi_write.
      ssize_t ret = write ? transport_.ep.rmaRead(p.ptr, p.len, p.desc, raw->peer, remote, iov.key, op)
                          : transport_.ep.rmaWrite(p.ptr, p.len, p.desc, raw->peer, remote, iov.key, op);
      if (ret == 0) break;
      if (ret != -FI_EAGAIN || !retryAfterEagain(start, RMA_RETRY_MS)) {
        log(LOG_WARN, "fabric", "%s: %s", write ? "fi_read" : "fi_write",
            ret == -FI_EAGAIN ? "peer unreachable" : fi_strerror((int)-ret));
        raw->error = -EIO;
        raw->pending--;
        break;
      }
      // EAGAIN: the first RMA to a new peer may need the connection set up: retry.
    }
    if (raw->error) {
      // Do not post more: account for the ops never posted.
      raw->pending -= pieces.size() - i - 1;
      break;
    }
    remote += p.len;
  }
  countRmaPostsForSigtermHook(raw->error ? 0 : pieces.size());
  if (--raw->pending == 0) doneRequests_.push_back(raw);
}

static constexpr size_t STAGING_KEEP = 2;
static constexpr size_t STAGING_KEEP_MAX = 256u << 20;  // a 256 MiB rewrite stages without faults

std::unique_ptr<char[]> FabricServer::takeStaging(size_t size, size_t &capacity) {
  for (size_t i = 0; i < stagingPool_.size(); i++) {
    if (stagingPool_[i].first >= size) {
      capacity = stagingPool_[i].first;
      std::unique_ptr<char[]> buf = std::move(stagingPool_[i].second);
      stagingPool_.erase(stagingPool_.begin() + i);
      return buf;
    }
  }
  capacity = size;
  std::unique_ptr<char[]> buf(new (std::nothrow) char[size]);
  if (buf) populate(buf.get(), size);  // a fresh buffer: fault it in now, not page by page under the RMA
  return buf;
}

void FabricServer::returnStaging(std::unique_ptr<char[]> buf, size_t capacity) {
  // Kept: at most STAGING_KEEP buffers, each at most STAGING_KEEP_MAX and an eighth of the cache.
  if (!buf || capacity > std::min<uint64_t>(STAGING_KEEP_MAX, opts_.cacheSize / 8)) return;
  if (stagingPool_.size() >= STAGING_KEEP) {
    // Keep the largest ones: replace the smallest if this one is bigger.
    auto smallest = std::min_element(stagingPool_.begin(), stagingPool_.end(),
                                     [](const auto &a, const auto &b) { return a.first < b.first; });
    if (smallest->first >= capacity) return;
    stagingPool_.erase(smallest);
  }
  stagingPool_.emplace_back(capacity, std::move(buf));
}

void FabricServer::finishRequest(Request *raw) {
  auto it = inflight_.find(raw);
  if (it == inflight_.end()) return;
  // Test hook IOC_TEST_HOLD_INPLACE=N: hold the N-th in-place write, whatever its RMA did,
  // until its client's side channel closes, then fail it as a transfer cut off by the client's
  // death (drives the race of a writer dying mid-transfer, test/integrity-server.test.ts).
  static int holdInPlace = getenv("IOC_TEST_HOLD_INPLACE") ? atoi(getenv("IOC_TEST_HOLD_INPLACE")) : 0;
  if (holdInPlace > 0 && raw->inPlace && raw->write && !raw->replied && --holdInPlace == 0) {
    heldInPlace_.push_back(raw);
    log(LOG_WARN, "server", "test hook: in-place write of tcp client %llu held until that client goes",
        (unsigned long long)raw->tcpClientId);
    return;
  }
  std::unique_ptr<Request> req = std::move(it->second);
  inflight_.erase(it);
  if (!req->cached.empty()) {
    if (req->write && !req->inPlace && req->error == 0 && !req->replied) {
      const char *src = req->scratch.get();  // every RMA succeeded: the staged bytes go in now
      for (const Piece &p : req->cached) {
        memcpy(p.ptr, src, p.len);
        src += p.len;
      }
    }
    // A client write is acknowledged only once the data is committed (durable with --nvdimm).
    if (req->write && req->error == 0 && !req->replied) req->error = cache_.commit(req->cached);
    if (req->write && req->inPlace) cache_.endInPlace(req->cached, req->error == 0 && !req->replied);
    cache_.release(req->cached);
    if (req->write && req->scratch && !req->replied) returnStaging(std::move(req->scratch), req->scratchCapacity);
  }
  if (req->replied) return;  // timed out earlier: the client has its answer
  if (req->started != std::chrono::steady_clock::time_point{}) {
    if (req->error == 0 && req->ackType == READ_WRITE_ACK) metrics_.transfer(req->write, true, req->size);
    metrics_.latency(req->msgType, std::chrono::steady_clock::now() - req->started);
  }
  curEcho_ = req->echo;
  if (req->ackType == PONG && req->error == 0) {
    SendOp *op = acquireSend();
    Header h;
    h.msgType = PONG;
    h.lfClientId = req->lfClientId;
    h.setEcho(curEcho_);
    postSend(op, encodeMessage(op->buf, MSG_BUFFER_SIZE, h, req->ping), req->peer);
    return;
  }
  sendResponse(req->ackType, req->lfClientId, req->peer, req->error, req->error ? 0 : req->size);
}

void FabricServer::expireRequests() {
  auto now = std::chrono::steady_clock::now();
  for (auto &kv : inflight_) {
    Request *req = kv.first;
    if (req->replied || req->pending == 0 || now < req->deadline) continue;
    // The RMA ops stay posted (libfabric cannot take them back): the request lingers until they
    // complete or fail (at the latest when the client disconnects). A staged write's
    // segments are released now (its bytes are only in staging); a read or an in-place write
    // keeps its pieces pinned until then (the provider may still be writing into them).
    req->replied = true;
    log(LOG_WARN, "fabric", "RMA %s client %llu did not complete within %d s: request failed (ETIMEDOUT)",
        req->write ? "from" : "to", (unsigned long long)req->lfClientId, opts_.rmaTimeoutSec);
    if (req->write && !req->inPlace && !req->cached.empty()) {
      cache_.release(req->cached);  // an in-place write keeps its slots until its RMA ops end
      req->cached.clear();
    }
    curEcho_ = req->echo;
    sendResponse(req->ackType, req->lfClientId, req->peer, -ETIMEDOUT);
    metrics_.latency(req->msgType, now - req->started);
  }
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
    size_t n = ranges_.releaseOwner(id);
    for (auto it = clients_.begin(); it != clients_.end();)
      it = it->second.tcpClientId == id ? clients_.erase(it) : std::next(it);
    log(LOG_DEBUG, "server", "tcp client %llu gone, released %zu ranges", (unsigned long long)id, n);
  }
}

void FabricServer::logCacheStats(bool onlyIfChanged) {
  std::string line = cache_.describeStats();
  if (onlyIfChanged && line == lastCacheStats_) return;
  lastCacheStats_ = line;
  log(LOG_INFO, "stats", "%s", line.c_str());
}

void FabricServer::printStats() {
  double r = (bytesRead_ - lastRead_) / 1e9, w = (bytesWritten_ - lastWritten_) / 1e9;
  lastRead_ = bytesRead_;
  lastWritten_ = bytesWritten_;
  CacheStats s = cache_.stats();
  log(LOG_INFO, "stats", "read %.3f GB/s, write %.3f GB/s, cache %llu MiB (%llu MiB dirty), hits %llu, misses %llu", r, w,
      (unsigned long long)(s.bytes >> 20), (unsigned long long)(s.dirtyBytes >> 20), (unsigned long long)s.hits,
      (unsigned long long)s.misses);
}

}  // namespace server
}  // namespace ioc

namespace ioc {
namespace server {

// --- control channel (metrics endpoint, iocatcher admin command) ---

std::string FabricServer::control(const std::string &command) {
  std::unique_lock<std::mutex> lock(ctlMu_);
  if (ctlStopped_) return "{\"error\":\"server shutting down\"}";
  ctlCommand_ = command;
  ctlPending_ = true;
  wake();
  if (!ctlCv_.wait_for(lock, std::chrono::seconds(10), [&] { return !ctlPending_; })) {
    ctlPending_ = false;
    return "{\"error\":\"the server loop did not answer in time\"}";
  }
  return ctlAnswer_;
}

void FabricServer::serveControl() {
  std::lock_guard<std::mutex> lock(ctlMu_);
  if (!ctlPending_) return;
  ctlAnswer_ = controlAnswer(ctlCommand_);
  ctlPending_ = false;
  ctlCv_.notify_all();
}

std::string FabricServer::controlAnswer(const std::string &command) {
  if (command == "stats") {
    ServerMetrics::Extra x;
    cache_.pruneIdle();  // the object count without entries only waiting to be forgotten
    x.cache = cache_.stats();
    x.tcpClients = tcp_.connectedClients();
    x.fabricClients = clients_.size();
    x.inflight = inflight_.size();
    return metrics_.json(x);
  }
  if (command == "ls") {
    std::string o = "{\"segmentSize\":" + std::to_string(cache_.segmentSize()) + ",\"objects\":[";
    bool first = true;
    for (const auto &obj : cache_.listObjects()) {
      o += std::string(first ? "" : ",") + "{\"high\":\"" + std::to_string(obj.id.high) + "\",\"low\":\"" +
           std::to_string(obj.id.low) + "\",\"size\":" + std::to_string(obj.size) +
           ",\"segments\":" + std::to_string(obj.segments) + ",\"cachedBytes\":" + std::to_string(obj.cachedBytes) +
           ",\"dirtyBytes\":" + std::to_string(obj.dirtyBytes) + "}";
      first = false;
    }
    return o + "]}";
  }
  return "{\"error\":" + jsonString("unknown command '" + command + "' (known: stats, ls)") + "}";
}

}  // namespace server
}  // namespace ioc
