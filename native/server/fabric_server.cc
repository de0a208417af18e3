#include "server/fabric_server.h"

#include <errno.h>

#include <chrono>
#include <cstring>

#include "server/log.h"

namespace ioc {
namespace server {

using namespace proto;

static constexpr size_t RECV_SLOTS = 64;
static constexpr size_t SEND_SLOTS = 64;
static constexpr uint64_t PING_RMA_MAX = 64u << 20;

FabricServer::FabricServer(const ServerOptions &opts, fabric::Transport &transport, SegmentCache &cache,
                           RangeRegistry &ranges, TcpChannel &tcp)
    : opts_(opts), transport_(transport), cache_(cache), ranges_(ranges), tcp_(tcp) {
  recvBuf_.reset(new char[RECV_SLOTS * MSG_BUFFER_SIZE]);
  sendBuf_.reset(new char[SEND_SLOTS * MSG_BUFFER_SIZE]);
  if (transport_.needsLocalMr()) {
    recvMr_ = fabric::MemoryRegion(transport_.domain, transport_.info, recvBuf_.get(), RECV_SLOTS * MSG_BUFFER_SIZE,
                                   FI_RECV, nextMrKey_++);
    sendMr_ = fabric::MemoryRegion(transport_.domain, transport_.info, sendBuf_.get(), SEND_SLOTS * MSG_BUFFER_SIZE,
                                   FI_SEND, nextMrKey_++);
    recvDesc_ = recvMr_.desc();
    sendDesc_ = sendMr_.desc();
  }
  recvOps_.resize(RECV_SLOTS);
  sendOps_.resize(SEND_SLOTS);
  for (size_t i = 0; i < SEND_SLOTS; i++) {
    sendOps_[i].kind = OpKind::Send;
    sendOps_[i].buf = sendBuf_.get() + i * MSG_BUFFER_SIZE;
    freeSends_.push_back(&sendOps_[i]);
  }
  for (size_t i = 0; i < RECV_SLOTS; i++) {
    recvOps_[i].kind = OpKind::Recv;
    recvOps_[i].buf = recvBuf_.get() + i * MSG_BUFFER_SIZE;
    postRecv(&recvOps_[i]);
  }
}

FabricServer::~FabricServer() = default;

void FabricServer::postRecv(RecvOp *op) {
  for (;;) {
    ssize_t ret = transport_.ep.postRecv(op->buf, MSG_BUFFER_SIZE, recvDesc_, op);
    if (ret == 0) return;
    if (ret != -FI_EAGAIN) throw fabric::FabricError("fi_recv", (int)ret);
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
        postRecv(static_cast<RecvOp *>(op));
      } else {
        readyRecvs_.emplace_back(static_cast<RecvOp *>(op), c.len);
      }
      break;
    case OpKind::Send:
      if (c.error) log(LOG_DEBUG, "fabric", "send failed: %s", fi_strerror(-c.error));
      freeSends_.push_back(static_cast<SendOp *>(op));
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

FabricServer::SendOp *FabricServer::acquireSend() {
  while (freeSends_.empty()) progress();
  SendOp *op = freeSends_.back();
  freeSends_.pop_back();
  return op;
}

void FabricServer::postSend(SendOp *op, size_t len, fi_addr_t peer) {
  for (;;) {
    ssize_t ret = transport_.ep.send(op->buf, len, sendDesc_, peer, op);
    if (ret == 0) return;
    if (ret != -FI_EAGAIN) {
      log(LOG_WARN, "fabric", "fi_send: %s", fi_strerror((int)-ret));
      freeSends_.push_back(op);
      return;
    }
    progress();
  }
}

void FabricServer::sendResponse(uint64_t msgType, uint64_t lfClientId, fi_addr_t peer, int32_t status,
                                uint64_t dataSize, const std::vector<Piece> *data) {
  SendOp *op = acquireSend();
  Writer w(op->buf, MSG_BUFFER_SIZE);
  Header h;
  h.msgType = msgType;
  h.lfClientId = lfClientId;
  h.encode(w);
  w.put(dataSize);
  w.put(status);
  w.putBool(data != nullptr);
  if (data)
    for (const Piece &p : *data) w.putBytes(p.ptr, p.len);
  if (!w.ok()) {  // cannot happen for eager sizes; never send a partial message
    freeSends_.push_back(op);
    log(LOG_ERROR, "fabric", "response %s does not fit a message", msgTypeName(msgType));
    return;
  }
  postSend(op, w.size(), peer);
}

void FabricServer::run(const std::atomic<bool> &stop) {
  auto lastStats = std::chrono::steady_clock::now();
  while (!stop.load()) {
    drainClientGone();
    fabric::Completion c[16];
    size_t n = opts_.activePolling ? transport_.cq.poll(c, 16) : transport_.cq.wait(c, 16, 200);
    for (size_t i = 0; i < n; i++) onCompletion(c[i]);
    drainWork();
    if (opts_.verbose) {
      auto now = std::chrono::steady_clock::now();
      if (now - lastStats >= std::chrono::seconds(1)) {
        lastStats = now;
        printStats();
      }
    }
  }
  broadcastFatal("server shutting down");
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
    try {
      handleMessage(op->buf, len);
    } catch (const std::exception &e) {
      log(LOG_ERROR, "server", "request failed: %s", e.what());
    }
    postRecv(op);
  }
}

void FabricServer::handleMessage(const char *buf, size_t len) {
  Reader r(buf, len);
  Header h;
  if (!h.decode(r)) {
    log(LOG_WARN, "protocol", "dropped a truncated message (%zu bytes)", len);
    return;
  }
  if (h.msgType == CONNECT_INIT) return handleConnect(h, r);
  auto it = clients_.find(h.lfClientId);
  if (it == clients_.end()) {
    log(LOG_WARN, "protocol", "dropped %s from unknown client id %llu", msgTypeName(h.msgType),
        (unsigned long long)h.lfClientId);
    return;
  }
  const LfClient &client = it->second;
  if (!tcp_.authorized(h.tcpClientId, h.tcpClientKey) || (opts_.auth && h.tcpClientId != client.tcpClientId)) {
    log(LOG_WARN, "auth", "bad credentials from client %llu for %s", (unsigned long long)h.lfClientId,
        msgTypeName(h.msgType));
    return sendResponse(BAD_AUTH, h.lfClientId, client.addr, -1);
  }
  auto reply = [&](uint64_t type, int32_t status) { sendResponse(type, h.lfClientId, client.addr, status); };
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
      return reply(FLUSH_ACK, cache_.flush(m.objectId, m.offset, m.size));
    }
    case CREATE: {
      Create m;
      if (!decodePayload(r, m)) return reply(CREATE_ACK, -EINVAL);
      return reply(CREATE_ACK, cache_.create(m.objectId));
    }
    case RANGE_REGISTER: {
      RegisterRange m;
      if (!decodePayload(r, m)) return reply(RANGE_REGISTER_ACK, -EINVAL);
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
      return reply(COW_ACK, cache_.cow(m.src, m.dst, m.allowExist, m.rangeOffset, m.rangeSize));
    }
    default:
      log(LOG_WARN, "protocol", "dropped message of unknown type %llu from client %llu",
          (unsigned long long)h.msgType, (unsigned long long)h.lfClientId);
  }
}

void FabricServer::handleConnect(const Header &h, Reader &r) {
  FirstClientMessage m;
  if (!decodePayload(r, m)) {
    log(LOG_WARN, "protocol", "dropped a malformed CONNECT_INIT");
    return;
  }
  fi_addr_t addr;
  try {
    addr = transport_.av.insert(m.addr);
  } catch (const fabric::FabricError &e) {
    log(LOG_WARN, "fabric", "cannot add a client address: %s", e.what());
    return;
  }
  uint64_t id = nextLfClientId_++;
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
  postSend(op, encodeMessage(op->buf, MSG_BUFFER_SIZE, out, fh), addr);
  log(LOG_DEBUG, "server", "client %llu connected (tcp client %llu)", (unsigned long long)id,
      (unsigned long long)h.tcpClientId);
}

void FabricServer::handleReadWrite(const Header &h, const LfClient &c, Reader &r, bool write) {
  ReadWrite m;
  if (!decodePayload(r, m)) return sendResponse(READ_WRITE_ACK, h.lfClientId, c.addr, -EINVAL);
  if (m.offset + m.size < m.offset || m.size > opts_.maxTransfer)
    return sendResponse(READ_WRITE_ACK, h.lfClientId, c.addr, -EINVAL);
  bool eager = m.size <= EAGER_MAX;
  if (write && eager && !m.msgHasData) return sendResponse(READ_WRITE_ACK, h.lfClientId, c.addr, -EINVAL);
  std::vector<Piece> pieces;
  int ret = cache_.access(m.objectId, m.offset, m.size, write, pieces);
  if (ret < 0) return sendResponse(READ_WRITE_ACK, h.lfClientId, c.addr, ret);
  if (write && m.msgHasData) {
    const char *src = m.data;
    for (const Piece &p : pieces) {
      memcpy(p.ptr, src, p.len);
      src += p.len;
    }
    bytesWritten_ += m.size;
    return sendResponse(READ_WRITE_ACK, h.lfClientId, c.addr, 0, m.size);
  }
  if (!write && eager) {
    bytesRead_ += m.size;
    return sendResponse(READ_WRITE_ACK, h.lfClientId, c.addr, 0, m.size, &pieces);
  }
  std::unique_ptr<Request> req(new Request);
  req->ackType = READ_WRITE_ACK;
  req->lfClientId = h.lfClientId;
  req->peer = c.addr;
  req->size = m.size;
  if (write)
    bytesWritten_ += m.size;
  else
    bytesRead_ += m.size;
  startRma(std::move(req), pieces, m.iov, write);
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
  inflight_[raw] = std::move(req);
  raw->ops.resize(pieces.size());
  raw->pending = pieces.size() + 1;  // +1 until every op is posted
  uint64_t remote = iov.addr;
  for (size_t i = 0; i < pieces.size(); i++) {
    RmaOp *op = &raw->ops[i];
    op->kind = OpKind::Rma;
    op->req = raw;
    const Piece &p = pieces[i];
    for (;;) {
      // Server-driven RMA: a client write is our fi_read from its buffer, a read our fi_write.
      ssize_t ret = write ? transport_.ep.rmaRead(p.ptr, p.len, p.desc, raw->peer, remote, iov.key, op)
                          : transport_.ep.rmaWrite(p.ptr, p.len, p.desc, raw->peer, remote, iov.key, op);
      if (ret == 0) break;
      if (ret != -FI_EAGAIN) {
        log(LOG_WARN, "fabric", "%s: %s", write ? "fi_read" : "fi_write", fi_strerror((int)-ret));
        raw->error = -EIO;
        raw->pending--;
        break;
      }
      progress();  // the first RMA to a new peer may need the connection set up
    }
    if (raw->error) {
      // Do not post more: account for the ops never posted.
      raw->pending -= pieces.size() - i - 1;
      break;
    }
    remote += p.len;
  }
  if (--raw->pending == 0) doneRequests_.push_back(raw);
}

void FabricServer::finishRequest(Request *raw) {
  auto it = inflight_.find(raw);
  if (it == inflight_.end()) return;
  std::unique_ptr<Request> req = std::move(it->second);
  inflight_.erase(it);
  if (req->ackType == PONG && req->error == 0) {
    SendOp *op = acquireSend();
    Header h;
    h.msgType = PONG;
    h.lfClientId = req->lfClientId;
    postSend(op, encodeMessage(op->buf, MSG_BUFFER_SIZE, h, req->ping), req->peer);
    return;
  }
  sendResponse(req->ackType, req->lfClientId, req->peer, req->error, req->error ? 0 : req->size);
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
  // Give the messages a moment to leave (bounded).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  while (freeSends_.size() < sendOps_.size() && std::chrono::steady_clock::now() < deadline) progress();
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
    size_t n = ranges_.releaseOwner(id);
    for (auto it = clients_.begin(); it != clients_.end();)
      it = it->second.tcpClientId == id ? clients_.erase(it) : std::next(it);
    log(LOG_DEBUG, "server", "tcp client %llu gone, released %zu ranges", (unsigned long long)id, n);
  }
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
