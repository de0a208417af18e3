#include "server/send_queue.h"

#include <cstring>

#include "fabric/protocol.h"
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

SendQueue::SendQueue(fabric::Transport &transport, std::function<uint64_t()> nextMrKey,
                     std::chrono::seconds giveUpAfter, std::function<void(fi_addr_t)> onGiveUp)
    : transport_(transport), nextMrKey_(std::move(nextMrKey)), giveUpAfter_(giveUpAfter), onGiveUp_(std::move(onGiveUp)) {
  addSlots();
  spareBuf_.reset(new char[MSG_BUFFER_SIZE]);
  spare_.kind = OpKind::Send;
  spare_.buf = spareBuf_.get();
  spare_.spare = true;
}

// One more chunk of send slots; false when the server has MAX_SEND_SLOTS already.
bool SendQueue::addSlots() {
  if (slots_ + SEND_CHUNK_SLOTS > MAX_SEND_SLOTS) return false;
  std::unique_ptr<Chunk> chunk(new Chunk);
  chunk->buf.reset(new (std::nothrow) char[SEND_CHUNK_SLOTS * MSG_BUFFER_SIZE]);
  if (!chunk->buf) return false;
  void *desc = nullptr;
  if (transport_.needsLocalMr()) {
    chunk->mr = fabric::MemoryRegion(transport_.domain, transport_.info, chunk->buf.get(),
                                     SEND_CHUNK_SLOTS * MSG_BUFFER_SIZE, FI_SEND, nextMrKey_());
    desc = chunk->mr.desc();
  }
  chunk->slots.resize(SEND_CHUNK_SLOTS);
  for (size_t i = 0; i < SEND_CHUNK_SLOTS; i++) {
    Slot &op = chunk->slots[i];
    op.kind = OpKind::Send;
    op.buf = chunk->buf.get() + i * MSG_BUFFER_SIZE;
    op.desc = desc;
    free_.push_back(&op);
  }
  slots_ += SEND_CHUNK_SLOTS;
  chunks_.push_back(std::move(chunk));
  return true;
}

SendQueue::Slot *SendQueue::acquire() {
  if (free_.empty() && !addSlots()) return &spare_;  // its message will be queued
  Slot *op = free_.back();
  free_.pop_back();
  return op;
}

void SendQueue::release(Slot *op) {
  if (!op->spare) free_.push_back(op);
}

bool SendQueue::busy() const {
  for (auto &kv : peers_)
    if (kv.second.posted || !kv.second.waiting.empty()) return true;
  return false;
}

bool SendQueue::anyPosted() const {
  for (auto &chunk : chunks_)
    for (const Slot &op : chunk->slots)
      if (op.peer != FI_ADDR_UNSPEC) return true;
  return false;
}

void SendQueue::post(Slot *op, size_t len, fi_addr_t peer) {
  if (closed_) return release(op);  // shut down: the endpoint may be closed already
  PeerSends &p = peers_[peer];
  if (op->spare || !p.waiting.empty() || p.posted >= MAX_POSTED_PER_PEER) return queue(op, len, peer);
  ssize_t ret = transport_.ep.send(op->buf, len, op->desc, peer, op);
  if (ret == 0) {
    op->peer = peer;
    op->postedAt = Clock::now();
    op->abandoned = false;
    p.posted++;
    return;
  }
  if (ret == -FI_EAGAIN) {  // the provider is busy with this peer (e.g. connecting to it)
    retrySoon_ = true;
    return queue(op, len, peer);
  }
  log(LOG_WARN, "fabric", "fi_send: %s (message dropped)", fi_strerror((int)-ret));
  release(op);
  if (p.posted == 0 && p.waiting.empty()) peers_.erase(peer);
}

void SendQueue::queue(Slot *op, size_t len, fi_addr_t peer) {
  PeerSends &p = peers_[peer];
  bool full = p.waiting.size() >= MAX_WAITING_PER_PEER || waitingBytes_ + len > MAX_WAITING_BYTES;
  if (!full) {
    p.waiting.emplace_back(Clock::now(), std::vector<char>(op->buf, op->buf + len));
    waitingBytes_ += len;
  }
  release(op);
  if (full) {
    size_t dropped = giveUp(peer) + 1;
    log(LOG_WARN, "fabric", "gave up a peer whose send queue is full: %zu messages dropped, its connection forgotten",
        dropped);
  }
}

void SendQueue::onCompletion(Slot *op, int error) {
  if (error) log(LOG_DEBUG, "fabric", "send failed: %s", fi_strerror(-error));
  if (!op->abandoned) {
    auto it = peers_.find(op->peer);
    if (it != peers_.end() && it->second.posted > 0) {
      it->second.posted--;
      if (it->second.posted == 0 && it->second.waiting.empty()) peers_.erase(it);
    }
  }
  op->abandoned = false;
  op->peer = FI_ADDR_UNSPEC;
  release(op);
}

void SendQueue::pump() {
  if (closed_) return;
  auto now = Clock::now();
  auto tooOld = now - giveUpAfter_;
  bool scan = now - lastScan_ >= SEND_SCAN_INTERVAL;
  if (scan) lastScan_ = now;
  std::vector<fi_addr_t> stuck;
  retrySoon_ = false;
  for (auto &kv : peers_) {
    PeerSends &p = kv.second;
    if (!p.waiting.empty() && p.waiting.front().first < tooOld) {
      stuck.push_back(kv.first);
      continue;
    }
    while (!p.waiting.empty() && p.posted < MAX_POSTED_PER_PEER) {
      if (free_.empty() && !addSlots()) break;
      Slot *op = free_.back();
      std::vector<char> &msg = p.waiting.front().second;
      memcpy(op->buf, msg.data(), msg.size());
      ssize_t ret = transport_.ep.send(op->buf, msg.size(), op->desc, kv.first, op);
      if (ret == -FI_EAGAIN) {  // again at the next turn of the loop
        retrySoon_ = true;
        break;
      }
      free_.pop_back();
      if (ret == 0) {
        op->peer = kv.first;
        op->postedAt = now;
        op->abandoned = false;
        p.posted++;
      } else {
        log(LOG_WARN, "fabric", "fi_send: %s (queued message dropped)", fi_strerror((int)-ret));
        free_.push_back(op);
      }
      waitingBytes_ -= msg.size();
      p.waiting.pop_front();
    }
  }
  // Sends posted long ago that never completed: the peer does not read (stopped, or gone
  // without the provider noticing). Scanned a few times a second, not at every turn.
  if (scan)
    for (auto &chunk : chunks_)
      for (Slot &op : chunk->slots)
        if (op.peer != FI_ADDR_UNSPEC && !op.abandoned && op.postedAt < tooOld) stuck.push_back(op.peer);
  size_t givenUp = 0, dropped = 0;
  for (fi_addr_t peer : stuck)
    if (peers_.count(peer)) dropped += giveUp(peer), givenUp++;
  if (givenUp)
    log(LOG_WARN, "fabric", "gave up %zu peer(s) that took no message for --rma-timeout (%lld s): %zu queued messages "
        "dropped, their connections forgotten", givenUp, (long long)giveUpAfter_.count(), dropped);
  for (auto it = peers_.begin(); it != peers_.end();)
    it = it->second.posted == 0 && it->second.waiting.empty() ? peers_.erase(it) : std::next(it);
}

// Drops the peer's waiting messages, leaves its posted slots to the provider (they come back
// when they complete, which may be never: new slots are added meanwhile, within
// MAX_SEND_SLOTS), and forgets the libfabric connections at that address: a client that
// resumes is refused (unknown id) and makes a new one. Its range registrations stay: they
// belong to its TCP side channel, whose close releases them.
size_t SendQueue::giveUp(fi_addr_t peer) {
  auto it = peers_.find(peer);
  size_t dropped = 0;
  if (it != peers_.end()) {
    dropped = it->second.waiting.size();
    for (auto &m : it->second.waiting) waitingBytes_ -= m.second.size();
    peers_.erase(it);
  }
  for (auto &chunk : chunks_)
    for (Slot &op : chunk->slots)
      if (op.peer == peer) op.abandoned = true;
  onGiveUp_(peer);
  return dropped;
}

}  // namespace server
}  // namespace ioc
