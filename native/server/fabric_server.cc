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

namespace ioc {
namespace server {

using namespace proto;

static constexpr size_t RECV_SLOTS = 64;

FabricServer::FabricServer(const ServerOptions &opts, fabric::Transport &transport, SegmentCache &cache,
                           RangeRegistry &ranges, TcpChannel &tcp)
    : opts_(opts),
      transport_(transport),
      cache_(cache),
      ranges_(ranges),
      tcp_(tcp),
      sends_(transport, [this] { return nextMrKey_++; }, std::chrono::seconds(opts.rmaTimeoutSec),
             [this](fi_addr_t peer) {
               clients_.dropPeer(peer);
               metrics_.dropped();
             }) {
  recvBuf_.reset(new char[RECV_SLOTS * MSG_BUFFER_SIZE]);
  if (transport_.needsLocalMr()) {
    recvMr_ = fabric::MemoryRegion(transport_.domain, transport_.info, recvBuf_.get(), RECV_SLOTS * MSG_BUFFER_SIZE,
                                   FI_RECV, nextMrKey_++);
    recvDesc_ = recvMr_.desc();
  }
  recvOps_.resize(RECV_SLOTS);
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
      sends_.onCompletion(static_cast<SendOp *>(op), c.error);
      break;
    case OpKind::Rma: {
      Request *req = static_cast<RmaOp *>(op)->req;
      if (c.error && !req->error) {
        req->error = c.error == -FI_ECANCELED ? -ECANCELED : -EIO;
        log(LOG_WARN, "fabric", "RMA to client %llu failed: %s", (unsigned long long)req->to.lfClientId,
            fi_strerror(-c.error));
      }
      if (--req->pending == 0) doneRequests_.push_back(req);
#ifdef IOC_FAILPOINTS_ENABLED
      if (req->stalled && req->pending == 1) {
        log(LOG_WARN, "server", "test hook: in-place write of tcp client %llu stalled mid-transfer (first half landed)",
            (unsigned long long)req->tcpClientId);
        if (req->stalledClientGone) {
          req->pending = 0;
          doneRequests_.push_back(req);
        }
      }
#endif
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

void FabricServer::sendResponse(const ReplyTo &to, int32_t status, uint64_t dataSize, const std::vector<Piece> *data) {
  if (status < 0) metrics_.errorReply(to.ackType, status);
  if (status < 0 && IOC_FAILPOINT(server_original_errors)) status = -1;
  SendOp *op = sends_.acquire();
  Writer w(op->buf, MSG_BUFFER_SIZE);
  Header h;
  h.msgType = to.ackType;
  h.lfClientId = to.lfClientId;
  h.setEcho(to.echo);
  h.encode(w);
  w.put(dataSize);
  w.put(status);
  w.putBool(data != nullptr);
  if (data)
    for (const Piece &p : *data) w.putBytes(p.ptr, p.len);
  if (!w.ok()) {  // cannot happen for eager sizes; never send a partial message
    sends_.release(op);
    log(LOG_ERROR, "fabric", "response %s does not fit a message", msgTypeName(to.ackType));
    return;
  }
  if (IOC_FAILPOINT(server_duplicate_replies)) {
    SendOp *copy = sends_.acquire();
    memcpy(copy->buf, op->buf, w.size());
    sends_.post(copy, w.size(), to.peer);
  }
  sends_.post(op, w.size(), to.peer);
}

void FabricServer::reply(const ReplyTo &to, int32_t status, const std::string &reason) {
  if (reason.empty() || status >= 0 || IOC_FAILPOINT(server_original_errors)) return sendResponse(to, status);
  metrics_.errorReply(to.ackType, status);
  SendOp *op = sends_.acquire();
  Header h;
  h.msgType = to.ackType;
  h.lfClientId = to.lfClientId;
  h.setEcho(to.echo);
  Response resp;
  resp.status = status;
  Writer w(op->buf, MSG_BUFFER_SIZE);
  h.encode(w);
  resp.encode(w);
  ReplyReason why;
  why.reason = reason;
  why.encode(w);
  if (!w.ok()) {
    sends_.release(op);
    return sendResponse(to, status);
  }
  sends_.post(op, w.size(), to.peer);
}

void FabricServer::replyData(const ReplyTo &to, const void *data, size_t len) {
  std::vector<Piece> piece{{static_cast<char *>(const_cast<void *>(data)), len, nullptr}};
  sendResponse(to, 0, len, &piece);
}

void FabricServer::run(const std::atomic<bool> &stop) {
  auto lastStats = std::chrono::steady_clock::now(), lastCacheStats = lastStats, lastSlowCheck = lastStats;
  auto spinUntil = std::chrono::steady_clock::now();
  while (!stop.load()) {
    drainClientGone();
    fabric::Completion c[16];
    size_t n = 0;
    // Right after work, poll a little before sleeping: a client's next request usually
    // follows its reply within microseconds, sooner than a sleep and wake-up.
    if (!opts_.activePolling && spinUs_ > 0 && std::chrono::steady_clock::now() < spinUntil) {
      n = transport_.cq.poll(c, 16);
      if (n == 0) {
        sched_yield();  // clients beside us on a small machine get the CPU meanwhile
        continue;
      }
    } else {
      // Messages waiting on the provider (EAGAIN) are retried soon, not at the next 200 ms tick.
      // Drains waiting for writes to settle start within a few ms of it, not at the next tick.
      int waitMs = sends_.retrySoon() ? 5 : cache_.drainsWaiting() ? 10 : 200;
      n = opts_.activePolling ? transport_.cq.poll(c, 16) : transport_.cq.wait(c, 16, waitMs);
    }
    if (n) spinUntil = std::chrono::steady_clock::now() + std::chrono::microseconds(spinUs_);
    for (size_t i = 0; i < n; i++) onCompletion(c[i]);
    drainWork();
    if (cache_.runCompletions()) spinUntil = std::chrono::steady_clock::now() + std::chrono::microseconds(spinUs_);
    if (!parked_.empty()) retryParked();
    drainWork();
    sends_.pump();
    mailbox_.serve([this](const std::string &command) { return controlAnswer(command); });
    auto now = std::chrono::steady_clock::now();
    if (!inflight_.empty()) expireRequests();
    if (now - lastSlowCheck >= std::chrono::seconds(1)) {
      lastSlowCheck = now;
      cache_.reportSlowJobs(now);
    }
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
  mailbox_.close("{\"error\":\"server shutting down\"}");
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
  Incoming in;
  in.started = again ? again->arrived : std::chrono::steady_clock::now();
  in.replaying = again != nullptr;
  try {
    handleMessage(in, buf, len);
  } catch (const std::exception &e) {
    log(LOG_ERROR, "server", "request failed: %s", e.what());
  }
  if (in.parked) {
    if (parked_.full()) {
      log(LOG_WARN, "server", "%zu requests wait for the cache already: %s refused (EAGAIN)", parked_.size(),
          msgTypeName(in.header.msgType));
      return reply(in.to, -EAGAIN, "the server has too many requests waiting for its cache");
    }
    Parked p;
    p.msg.assign(buf, buf + len);
    p.to = in.to;
    p.arrived = in.started;
    p.deadline = again ? again->deadline : in.started + std::chrono::seconds(opts_.rmaTimeoutSec);
    // A fenced write waits no longer than its deadline (after it, it could not be applied).
    if (in.fenceNs) p.deadline = std::min(p.deadline, fenceTime(in.fenceNs));
    parked_.add(std::move(p));
    return;
  }
  if (in.timed && !in.async) metrics_.latency(in.header.msgType, std::chrono::steady_clock::now() - in.started);
}

// Handle the waiting requests again once the cache made progress (in arrival order); answer
// those past their deadline.
void FabricServer::retryParked() {
  std::deque<Parked> retry, expired;
  parked_.takeDue(cache_.progressCount(), std::chrono::steady_clock::now(), retry, expired);
  for (const Parked &p : expired) {
    log(LOG_WARN, "server", "a request waited %.3f s for the cache (store or in-place write): ETIMEDOUT",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - p.arrived).count());
    reply(p.to, -ETIMEDOUT, "waited longer than --rma-timeout for the cache (store or in-place write)");
  }
  for (const Parked &p : retry) dispatch(p.msg.data(), p.msg.size(), &p);
}

static uint64_t ackTypeOf(uint64_t type) {
  switch (type) {
    case PING: return PONG;
    case OBJ_READ: case OBJ_WRITE: case OBJ_WRITE_PIECES: return READ_WRITE_ACK;
    case FLUSH: return FLUSH_ACK;
    case CREATE: return CREATE_ACK;
    case RANGE_REGISTER: return RANGE_REGISTER_ACK;
    case RANGE_UNREGISTER: return RANGE_UNREGISTER_ACK;
    case COW: return COW_ACK;
    case OBJ_STAT: return OBJ_STAT_ACK;
    case OBJ_LIST: return OBJ_LIST_ACK;
    case OBJ_DELETE: return OBJ_DELETE_ACK;
    default: return ERROR_ACK;
  }
}

void FabricServer::handleMessage(Incoming &in, const char *buf, size_t len) {
  uint64_t sequence = 0;
  // Decoders see the original layout: the trailer and a write's deadline are taken off.
  if (!IOC_FAILPOINT(server_no_trailer)) len = splitRequestTrailer(buf, len, sequence, &in.fenceNs);
  if (IOC_FAILPOINT(server_no_fencing)) in.fenceNs = 0;
  Reader r(buf, len);
  Header &h = in.header;
  if (!h.decode(r)) {
    log(LOG_WARN, "protocol", "dropped a truncated message (%zu bytes)", len);
    metrics_.dropped();
    return;
  }
  if (!in.replaying) metrics_.request(h.msgType);
  in.timed = true;
  if (h.msgType == CONNECT_INIT) return handleConnect(h, r);
  const LfClient *client = clients_.find(h.lfClientId);
  if (!client || !tcp_.authorized(h.tcpClientId, h.tcpClientKey) ||
      (opts_.auth && h.tcpClientId != client->tcpClientId)) {
    // BAD_AUTH goes only to the owner of TCP credentials this message proved (right key):
    // never to the client whose lf id or TCP id was used, which anyone can guess (small
    // sequential numbers). An unsolicited BAD_AUTH was taken by the original client, and ours
    // before request echoes, as the answer to its call in flight. With no proven credentials
    // the sender cannot be known and the message is dropped.
    const ClientTable::Entry *to = senderOf(h.tcpClientId, h.tcpClientKey);
    log(LOG_WARN, "auth", "%s %s from lf client id %llu (tcp client %llu)%s",
        !client ? "unknown client id in" : "bad credentials in", msgTypeName(h.msgType),
        (unsigned long long)h.lfClientId, (unsigned long long)h.tcpClientId, to ? ": BAD_AUTH" : ": dropped");
    if (to) sendResponse(ReplyTo{to->first, to->second.addr, IOC_FAILPOINT(server_no_echo) ? 0 : sequence, BAD_AUTH}, -1);
    else metrics_.dropped();
    return;
  }
  in.client = client;
  in.to = ReplyTo{h.lfClientId, client->addr, IOC_FAILPOINT(server_no_echo) ? 0 : sequence, ackTypeOf(h.msgType)};
  if (len > opts_.maxMessage) {
    log(LOG_WARN, "protocol", "refused a %zu-byte %s from client %llu (--max-message %llu)", len,
        msgTypeName(h.msgType), (unsigned long long)h.lfClientId, (unsigned long long)opts_.maxMessage);
    return reply(in.to, -EMSGSIZE, "message larger than --max-message " + std::to_string(opts_.maxMessage));
  }
  switch (h.msgType) {
    case PING: return handlePing(in, r);
    case OBJ_READ: return handleReadWrite(in, r, false);
    case OBJ_WRITE: return handleReadWrite(in, r, true);
    case OBJ_WRITE_PIECES: return handleWritePieces(in, r);
    case FLUSH: return handleFlush(in, r);
    case CREATE: return handleCreate(in, r);
    case RANGE_REGISTER: return handleRegister(in, r);
    case RANGE_UNREGISTER: return handleUnregister(in, r);
    case COW: return handleCow(in, r);
    case OBJ_STAT: return handleStat(in, r);
    case OBJ_LIST: return handleList(in, r);
    case OBJ_DELETE: return handleDelete(in, r);
    default:
      log(LOG_WARN, "protocol", "refused message of unknown type %llu (%s) from client %llu",
          (unsigned long long)h.msgType, msgTypeName(h.msgType), (unsigned long long)h.lfClientId);
      return reply(in.to, -ENOSYS, "unknown message type " + std::to_string(h.msgType));
  }
}

}  // namespace server
}  // namespace ioc
