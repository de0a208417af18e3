// FabricServer's send path. Nothing here waits for a peer: a message goes out at once when a
// slot is free and the provider takes it, else it waits in its peer's queue and the loop posts
// it as completions free slots (pumpSends). A peer that does not take its messages (a stopped
// client, a forged CONNECT_INIT address) holds at most MAX_POSTED_PER_PEER slots and
// MAX_WAITING_PER_PEER queued messages; when its oldest message is older than --rma-timeout or
// its queue is full, it is given up: its messages are dropped and its connection forgotten.
#include <cstring>

#include "server/fabric_server.h"
#include "server/log.h"

namespace ioc {
namespace server {

static constexpr size_t SEND_CHUNK_SLOTS = 64;
static constexpr size_t MAX_SEND_SLOTS = 16 * SEND_CHUNK_SLOTS;  // ~37 MiB of buffers at most
static constexpr size_t MAX_POSTED_PER_PEER = 4;    // one request per connection, plus margin
static constexpr size_t MAX_WAITING_PER_PEER = 64;
static constexpr size_t MAX_WAITING_BYTES = 64u << 20;
static constexpr auto SEND_SCAN_INTERVAL = std::chrono::milliseconds(200);

using proto::MSG_BUFFER_SIZE;
using Clock = std::chrono::steady_clock;

// One more chunk of send slots; false when the server has MAX_SEND_SLOTS already.
bool FabricServer::addSendSlots() {
  if (sendSlots_ + SEND_CHUNK_SLOTS > MAX_SEND_SLOTS) return false;
  std::unique_ptr<SendChunk> chunk(new SendChunk);
  chunk->buf.reset(new (std::nothrow) char[SEND_CHUNK_SLOTS * MSG_BUFFER_SIZE]);
  if (!chunk->buf) return false;
  void *desc = nullptr;
  if (transport_.needsLocalMr()) {
    chunk->mr = fabric::MemoryRegion(transport_.domain, transport_.info, chunk->buf.get(),
                                     SEND_CHUNK_SLOTS * MSG_BUFFER_SIZE, FI_SEND, nextMrKey_++);
    desc = chunk->mr.desc();
  }
  chunk->ops.resize(SEND_CHUNK_SLOTS);
  for (size_t i = 0; i < SEND_CHUNK_SLOTS; i++) {
    SendOp &op = chunk->ops[i];
    op.kind = OpKind::Send;
    op.buf = chunk->buf.get() + i * MSG_BUFFER_SIZE;
    op.desc = desc;
    freeSends_.push_back(&op);
  }
  sendSlots_ += SEND_CHUNK_SLOTS;
  sendChunks_.push_back(std::move(chunk));
  return true;
}

FabricServer::SendOp *FabricServer::acquireSend() {
  if (freeSends_.empty() && !addSendSlots()) return &spareSend_;  // its message will be queued
  SendOp *op = freeSends_.back();
  freeSends_.pop_back();
  return op;
}

void FabricServer::releaseSend(SendOp *op) {
  if (!op->spare) freeSends_.push_back(op);
}

void FabricServer::postSend(SendOp *op, size_t len, fi_addr_t peer) {
  if (sendsClosed_) return releaseSend(op);  // shut down: the endpoint may be closed already
  PeerSends &p = peerSends_[peer];
  if (op->spare || !p.waiting.empty() || p.posted >= MAX_POSTED_PER_PEER) return queueSend(op, len, peer);
  ssize_t ret = transport_.ep.send(op->buf, len, op->desc, peer, op);
  if (ret == 0) {
    op->peer = peer;
    op->postedAt = Clock::now();
    op->abandoned = false;
    p.posted++;
    return;
  }
  if (ret == -FI_EAGAIN) {  // the provider is busy with this peer (e.g. connecting to it)
    retrySendsSoon_ = true;
    return queueSend(op, len, peer);
  }
  log(LOG_WARN, "fabric", "fi_send: %s (message dropped)", fi_strerror((int)-ret));
  releaseSend(op);
  if (p.posted == 0 && p.waiting.empty()) peerSends_.erase(peer);
}

void FabricServer::queueSend(SendOp *op, size_t len, fi_addr_t peer) {
  PeerSends &p = peerSends_[peer];
  bool full = p.waiting.size() >= MAX_WAITING_PER_PEER || waitingBytes_ + len > MAX_WAITING_BYTES;
  if (!full) {
    p.waiting.emplace_back(Clock::now(), std::vector<char>(op->buf, op->buf + len));
    waitingBytes_ += len;
  }
  releaseSend(op);
  if (full) {
    size_t dropped = giveUpPeer(peer) + 1;
    log(LOG_WARN, "fabric", "gave up a peer whose send queue is full: %zu messages dropped, its connection forgotten",
        dropped);
  }
}

void FabricServer::onSendCompletion(SendOp *op, int error) {
  if (error) log(LOG_DEBUG, "fabric", "send failed: %s", fi_strerror(-error));
  if (!op->abandoned) {
    auto it = peerSends_.find(op->peer);
    if (it != peerSends_.end() && it->second.posted > 0) {
      it->second.posted--;
      if (it->second.posted == 0 && it->second.waiting.empty()) peerSends_.erase(it);
    }
  }
  op->abandoned = false;
  op->peer = FI_ADDR_UNSPEC;
  releaseSend(op);
}

void FabricServer::pumpSends() {
  auto now = Clock::now();
  auto tooOld = now - std::chrono::seconds(opts_.rmaTimeoutSec);
  bool scan = now - lastSendScan_ >= SEND_SCAN_INTERVAL;
  if (scan) lastSendScan_ = now;
  std::vector<fi_addr_t> stuck;
  retrySendsSoon_ = false;
  for (auto &kv : peerSends_) {
    PeerSends &p = kv.second;
    if (!p.waiting.empty() && p.waiting.front().first < tooOld) {
      stuck.push_back(kv.first);
      continue;
    }
    while (!p.waiting.empty() && p.posted < MAX_POSTED_PER_PEER) {
      if (freeSends_.empty() && !addSendSlots()) break;
      SendOp *op = freeSends_.back();
      std::vector<char> &msg = p.waiting.front().second;
      memcpy(op->buf, msg.data(), msg.size());
      ssize_t ret = transport_.ep.send(op->buf, msg.size(), op->desc, kv.first, op);
      if (ret == -FI_EAGAIN) {  // again at the next turn of the loop
        retrySendsSoon_ = true;
        break;
      }
      freeSends_.pop_back();
      if (ret == 0) {
        op->peer = kv.first;
        op->postedAt = now;
        op->abandoned = false;
        p.posted++;
      } else {
        log(LOG_WARN, "fabric", "fi_send: %s (queued message dropped)", fi_strerror((int)-ret));
        freeSends_.push_back(op);
      }
      waitingBytes_ -= msg.size();
      p.waiting.pop_front();
    }
  }
  // Sends posted long ago that never completed: the peer does not read (stopped, or gone
  // without the provider noticing). Scanned a few times a second, not at every turn.
  if (scan)
    for (auto &chunk : sendChunks_)
      for (SendOp &op : chunk->ops)
        if (op.peer != FI_ADDR_UNSPEC && !op.abandoned && op.postedAt < tooOld) stuck.push_back(op.peer);
  size_t givenUp = 0, dropped = 0;
  for (fi_addr_t peer : stuck)
    if (peerSends_.count(peer)) dropped += giveUpPeer(peer), givenUp++;
  if (givenUp)
    log(LOG_WARN, "fabric", "gave up %zu peer(s) that took no message for --rma-timeout (%d s): %zu queued messages "
        "dropped, their connections forgotten", givenUp, opts_.rmaTimeoutSec, dropped);
  for (auto it = peerSends_.begin(); it != peerSends_.end();)
    it = it->second.posted == 0 && it->second.waiting.empty() ? peerSends_.erase(it) : std::next(it);
}

// Drops the peer's waiting messages, leaves its posted slots to the provider (they come back
// when they complete, which may be never: new slots are added meanwhile, within
// MAX_SEND_SLOTS), and forgets the libfabric connections at that address: a client that
// resumes is refused (unknown id) and makes a new one. Its range registrations stay: they
// belong to its TCP side channel, whose close releases them.
size_t FabricServer::giveUpPeer(fi_addr_t peer) {
  auto it = peerSends_.find(peer);
  size_t dropped = 0;
  if (it != peerSends_.end()) {
    dropped = it->second.waiting.size();
    for (auto &m : it->second.waiting) waitingBytes_ -= m.second.size();
    peerSends_.erase(it);
  }
  for (auto &chunk : sendChunks_)
    for (SendOp &op : chunk->ops)
      if (op.peer == peer) op.abandoned = true;
  for (auto c = clients_.begin(); c != clients_.end();) c = c->second.addr == peer ? clients_.erase(c) : std::next(c);
  metrics_.dropped();
  return dropped;
}

}  // namespace server
}  // namespace ioc
