// FabricServer's data path: reads and writes (eager data inline, server-driven RMA above 32 KiB,
// staged or in place), pings, and the end of a request when its RMA operations complete.
#include "server/fabric_server.h"

#include <cstring>
#include <thread>

#include "server/log.h"

namespace ioc {
namespace server {

using namespace proto;

static constexpr uint64_t PING_RMA_MAX = 64u << 20;
static constexpr int RMA_RETRY_MS = 5000;

void FabricServer::handleReadWrite(Incoming &in, Reader &r, bool write) {
  const Header &h = in.header;
  ReadWrite m;
  if (!decodePayload(r, m)) return reply(in.to, -EINVAL, write ? "malformed OBJ_WRITE" : "malformed OBJ_READ");
  int err = m.offset + m.size < m.offset ? -EINVAL
            : m.size > opts_.maxTransfer ? -EMSGSIZE
            : m.offset + m.size > opts_.maxObjectSize ? -EFBIG : 0;
  if (err) {
    log(LOG_WARN, "protocol", "refused %s of %llu bytes at %llu from client %llu: %s", write ? "OBJ_WRITE" : "OBJ_READ",
        (unsigned long long)m.size, (unsigned long long)m.offset, (unsigned long long)h.lfClientId,
        err == -EINVAL ? "the range overflows" : err == -EMSGSIZE ? "larger than --max-transfer"
                                                : "ends past --max-object-size");
    return reply(in.to, err,
                 err == -EINVAL    ? std::string("the range overflows")
                 : err == -EMSGSIZE ? "larger than --max-transfer " + std::to_string(opts_.maxTransfer)
                                    : "ends past --max-object-size " + std::to_string(opts_.maxObjectSize));
  }
  bool eager = m.size <= EAGER_MAX;
  if (write && eager && !m.msgHasData) return reply(in.to, -EINVAL, "a write of at most 32 KiB must carry its data inline");
  // Fencing: a write that arrives (or is handled again after waiting for the cache) past its
  // deadline is refused before anything of it touches the cache: its client has reported it
  // failed, or will before this answer reaches it.
  int64_t fenceNs = write ? in.fenceNs : 0;
  if (fenced(fenceNs, m.msgHasData ? "arrived" : "arrived (RMA not started)", h.lfClientId, m.objectId.high,
             m.objectId.low, m.offset, m.size))
    return reply(in.to, -ETIMEDOUT, "the write arrived after its deadline");
  if (write && m.msgHasData) {
    if (writeThrough(in, m, fenceNs)) return;
    int ret = copyIntoCache(m.objectId, m.offset, m.data, m.size);
    if (ret == SegmentCache::kBusy) return park(in);
    if (ret < 0) return reply(in.to, ret, cacheWriteReason(ret));
    bytesWritten_ += m.size;
    metrics_.transfer(true, false, m.size);
    return ackWrite(in.to, 0, m.size);
  }
  std::vector<Piece> pieces;  // pinned in the cache until released
  int ret = cache_.access(m.objectId, m.offset, m.size, write, pieces);
  if (ret == SegmentCache::kBusy) return park(in);
  if (ret < 0) return reply(in.to, ret, cacheWriteReason(ret));
  if (!write && eager) {
    bytesRead_ += m.size;
    metrics_.transfer(false, false, m.size);
    struct Unpin {
      SegmentCache &cache;
      std::vector<Piece> &pieces;
      ~Unpin() { cache.release(pieces); }
    } unpin{cache_, pieces};  // the response copies the data out, then the pieces are unpinned
    return sendResponse(in.to, 0, m.size, &pieces);
  }
  std::unique_ptr<Request> req(new Request);
  req->to = in.to;
  req->size = m.size;
  req->write = write;
  req->cached = pieces;  // released by finishRequest, whatever happens to the RMA
  IOC_FAILPOINTS_ONLY(req->tcpClientId = in.client->tcpClientId;)
  req->fenceNs = fenceNs;
  req->objHigh = (uint64_t)m.objectId.high;
  req->objLow = (uint64_t)m.objectId.low;
  req->offset = m.offset;
  if (write)
    bytesWritten_ += m.size;
  else
    bytesRead_ += m.size;
  if (!write) return startRma(in, std::move(req), pieces, m.iov, write);
  if (cache_.writableInPlace(pieces)) {
    // Only clean segments, nobody else on them: the RMA lands in the cache directly, and the
    // segments are ours until the request ends (others wait).
    req->inPlace = true;
    cache_.beginInPlace(pieces);
    return startRma(in, std::move(req), pieces, m.iov, write);
  }
  // Stage the client's bytes (same piece boundaries); finishRequest copies them into the cache
  // only when every RMA succeeded.
  size_t capacity = 0;
  std::unique_ptr<char[]> staging = takeStaging(m.size, capacity);
  if (!staging) {
    cache_.release(req->cached);
    return reply(in.to, -ENOMEM, "no memory for a staging buffer");
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
  startRma(in, std::move(req), staged, m.iov, write);
}

int FabricServer::copyIntoCache(const ObjectId &id, uint64_t offset, const char *data, size_t size) {
  std::vector<Piece> pieces;  // pinned in the cache until released
  int ret = cache_.access(id, offset, size, true, pieces);
  if (ret < 0) return ret;  // kBusy included
  for (const Piece &p : pieces) {
    memcpy(p.ptr, data, p.len);
    data += p.len;
  }
  ret = cache_.commit(pieces);  // durable (with --nvdimm) before the ack
  cache_.release(pieces);
  return ret;
}

std::string FabricServer::cacheWriteReason(int ret) const {
  return ret == -ENOSPC ? "the cache is full of data the store refuses" : storeReason(ret);
}

bool FabricServer::writeThrough(Incoming &in, const ReadWrite &m, int64_t fenceNs) {
  ReplyTo to = in.to;
  auto started = in.started;
  uint64_t lfClientId = in.header.lfClientId, size = m.size, offset = m.offset;
  ObjectId id = m.objectId;
  int ret = cache_.writeThrough(
      id, offset, m.data, size,
      [this, fenceNs, lfClientId, id, offset, size] {
        return fenced(fenceNs, "reached the store", lfClientId, id.high, id.low, offset, size);
      },
      [this, to, started, size](int ret) {
        metrics_.latency(OBJ_WRITE, std::chrono::steady_clock::now() - started);
        if (ret == -ETIMEDOUT) return reply(to, ret, "the write reached the store after its deadline");
        if (ret < 0) return reply(to, ret, storeReason(ret));
        bytesWritten_ += size;
        metrics_.transfer(true, false, size);
        ackWrite(to, 0, size);
      });
  if (ret != 0) return false;
  in.async = true;
  return true;
}

void FabricServer::handlePing(Incoming &in, Reader &r) {
  std::unique_ptr<Request> req(new Request);
  if (!decodePayload(r, req->ping) || req->ping.rdmaSize > PING_RMA_MAX)
    return reply(in.to, -EINVAL, "malformed PING, or more than 64 MiB to read");
  req->to = in.to;
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
  startRma(in, std::move(req), pieces, iov, true);
}

// Huge transfers go as several RMA operations in flight at once (a piece per segment, and at
// most this much each): the provider moves one while the next is posted, and a large segment
// size does not make one giant operation.
static constexpr size_t RMA_PIECE_MAX = 8u << 20;

static std::vector<Piece> cutPieces(const std::vector<Piece> &pieces) {
  std::vector<Piece> out;
  for (const Piece &p : pieces)
    for (size_t off = 0; off < p.len; off += RMA_PIECE_MAX)
      out.push_back({p.ptr + off, std::min(RMA_PIECE_MAX, p.len - off), p.desc, nullptr});
  return out;
}

void FabricServer::startRma(Incoming &in, std::unique_ptr<Request> req, const std::vector<Piece> &whole,
                            const Iov &iov, bool write) {
  std::vector<Piece> pieces = cutPieces(whole);
  Request *raw = req.get();
  size_t unposted = 0;  // operations never posted (failpoint server.stall_inplace_write)
#ifdef IOC_FAILPOINTS_ENABLED
  if (write && raw->inPlace) stallForFailpoint(raw, pieces, unposted);
#endif
  if (write && raw->to.ackType == READ_WRITE_ACK)
    IOC_FAILPOINT_AT(server_before_write_rma, "write of %llu bytes at %llu", (unsigned long long)raw->size,
                     (unsigned long long)raw->offset);
  raw->deadline = std::chrono::steady_clock::now() + std::chrono::seconds(opts_.rmaTimeoutSec);
  if (raw->fenceNs && !IOC_FAILPOINT(server_fence_no_expiry)) raw->deadline = std::min(raw->deadline, fenceTime(raw->fenceNs));  // answered then
  raw->msgType = in.header.msgType;  // metrics: the reply is timed when the RMA completes
  raw->started = in.started;
  in.async = true;
  inflight_[raw] = std::move(req);
  raw->ops.resize(pieces.size());
  raw->pending = pieces.size() + 1 + (unposted ? 1 : 0);  // +1 until every op is posted (+1: stalled)
  uint64_t remote = iov.addr;
  for (size_t i = 0; i < pieces.size(); i++) {
    RmaOp *op = &raw->ops[i];
    op->kind = OpKind::Rma;
    op->req = raw;
    const Piece &p = pieces[i];
    auto start = std::chrono::steady_clock::now();
    for (;;) {
      // Server-driven RMA: a client write is our fi_read from its buffer, a read our fi_write.
      ssize_t ret = write ? transport_.ep.rmaRead(p.ptr, p.len, p.desc, raw->to.peer, remote, iov.key, op)
                          : transport_.ep.rmaWrite(p.ptr, p.len, p.desc, raw->to.peer, remote, iov.key, op);
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
#ifdef IOC_FAILPOINTS_ENABLED
  for (size_t i = 0; !raw->error && i < pieces.size(); i++) IOC_FAILPOINT(server_rma_posted);
#endif
  if (--raw->pending == 0) doneRequests_.push_back(raw);
#ifdef IOC_FAILPOINTS_ENABLED
  if (raw->stalled && raw->pending == 1)
    log(LOG_WARN, "server", "test hook: in-place write of tcp client %llu stalled mid-transfer (first half landed)",
        (unsigned long long)raw->tcpClientId);
#endif
}

#ifdef IOC_FAILPOINTS_ENABLED
// Failpoint server.stall_inplace_write=value(BYTES): an in-place write of exactly BYTES posts the
// first half of its bytes (in 1 MiB operations) and never the rest, as if its writer stopped
// mid-transfer: the request times out at --rma-timeout and ends once its client is gone
// (test/stalled-writer.test.ts).
void FabricServer::stallForFailpoint(Request *raw, std::vector<Piece> &pieces, size_t &unposted) {
  fail::Hit stall = IOC_FAILPOINT(server_stall_inplace_write);
  if (!stall || raw->size != (uint64_t)stall.value) return;
  std::vector<Piece> small;
  for (const Piece &p : pieces)
    for (size_t off = 0; off < p.len; off += 1u << 20)
      small.push_back({p.ptr + off, std::min<size_t>(1u << 20, p.len - off), p.desc, nullptr});
  unposted = small.size() - (small.size() + 1) / 2;
  small.resize(small.size() - unposted);
  pieces.swap(small);
  raw->stalled = true;
  log(LOG_WARN, "server", "test hook: in-place write of tcp client %llu: %zu of %zu operations posted, never the rest",
      (unsigned long long)raw->tcpClientId, pieces.size(), pieces.size() + unposted);
}
#endif

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

void FabricServer::countUnregisterForHoldHook() {
#ifdef IOC_FAILPOINTS_ENABLED
  if (holdWritesUntilUnregisters_ <= 0 || --holdWritesUntilUnregisters_ > 0) return;
  log(LOG_WARN, "server", "test hook: %zu held writes released", heldWrites_.size());
  std::vector<Request *> held;
  held.swap(heldWrites_);
  for (Request *req : held) finishRequest(req);
#endif
}

#ifdef IOC_FAILPOINTS_ENABLED
bool FabricServer::holdForFailpoint(Request *raw) {
  if (!raw->write || raw->replied || raw->heldOnce) return false;  // held once: never again
  // Failpoint server.hold_inplace_write (e.g. after(N): the N-th in-place write): held, whatever
  // its RMA did, until its client's side channel closes, then failed as a transfer cut off by
  // the client's death (drives the race of a writer dying mid-transfer,
  // test/integrity-server.test.ts).
  if (raw->inPlace && IOC_FAILPOINT(server_hold_inplace_write)) {
    raw->heldOnce = true;
    heldInPlace_.push_back(raw);
    log(LOG_WARN, "server", "test hook: in-place write of tcp client %llu held until that client goes",
        (unsigned long long)raw->tcpClientId);
    return true;
  }
  // Failpoint server.hold_writes_until_unregisters=value(N): the reply of every RMA write waits
  // until the server has answered N RANGE_UNREGISTERs, so that a client's writes keep its
  // pooled connections busy while it registers and unregisters ranges (test/c-api-compat.test.ts).
  if (holdWritesUntilUnregisters_ > 0) {
    raw->heldOnce = true;
    heldWrites_.push_back(raw);
    log(LOG_WARN, "server", "test hook: write of tcp client %llu held until %lld more range unregisters (%zu held)",
        (unsigned long long)raw->tcpClientId, holdWritesUntilUnregisters_, heldWrites_.size());
    return true;
  }
  return false;
}
#endif

void FabricServer::finishRequest(Request *raw) {
  auto it = inflight_.find(raw);
  if (it == inflight_.end()) return;
#ifdef IOC_FAILPOINTS_ENABLED
  if (holdForFailpoint(raw)) return;
#endif
  std::unique_ptr<Request> req = std::move(it->second);
  inflight_.erase(it);
  // Fencing: the bytes of a write go into the cache (staged: copied; in place: kept) only
  // before its deadline; after it the write fails and the segments keep their old bytes. This
  // check and the copy below run on this thread without waiting for anything.
  if (req->write && req->error == 0 && !req->replied && !req->cached.empty()) {
    if (draining_) {
      // Shutdown: the client got FATAL_ERROR (its call failed): never apply the write now.
      log(LOG_WARN, "server", "write of %llu bytes at %llu from client %llu completed during shutdown: discarded",
          (unsigned long long)req->size, (unsigned long long)req->offset, (unsigned long long)req->to.lfClientId);
      req->error = -ESHUTDOWN;
    } else if (fenced(req->fenceNs, "RMA completed", req->to.lfClientId, (int64_t)req->objHigh, (int64_t)req->objLow,
                      req->offset, req->size)) {
      req->error = -ETIMEDOUT;
    }
  }
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
    if (req->error == 0 && req->to.ackType == READ_WRITE_ACK) metrics_.transfer(req->write, true, req->size);
    metrics_.latency(req->msgType, std::chrono::steady_clock::now() - req->started);
  }
  if (req->to.ackType == PONG && req->error == 0 && IOC_FAILPOINT(server_original_ping)) {
    const char *bytes = req->scratch.get();
    uint64_t eager = req->ping.eagerSize, rdma = req->ping.rdmaSize;
    bool ok = std::all_of(bytes, bytes + eager, [](char b) { return b == 43; }) &&
              std::all_of(bytes + eager, bytes + eager + rdma, [](char b) { return b == 42; });
    if (!ok) log(LOG_WARN, "server", "test hook: PING bytes are not the original's 43 (inline) and 42 (RMA): -1");
    return sendResponse(req->to, ok ? 0 : -1);
  }
  if (req->to.ackType == PONG && req->error == 0) {
    SendOp *op = sends_.acquire();
    Header h;
    h.msgType = PONG;
    h.lfClientId = req->to.lfClientId;
    h.setEcho(req->to.echo);
    sends_.post(op, encodeMessage(op->buf, MSG_BUFFER_SIZE, h, req->ping), req->to.peer);
    return;
  }
  if (req->write && req->to.ackType == READ_WRITE_ACK)
    return ackWrite(req->to, req->error, req->error ? 0 : req->size);
  sendResponse(req->to, req->error, req->error ? 0 : req->size);
}

bool FabricServer::fenced(int64_t fenceNs, const char *stage, uint64_t lfClientId, int64_t high, int64_t low,
                          uint64_t offset, uint64_t size) {
  if (fenceNs == 0) return false;
  int64_t late = monoNs() - fenceNs;
  if (late < 0) return false;
  metrics_.fenced();
  log(LOG_WARN, "fence", "write of %llu bytes at %llu of object %llx:%llx from client %llu %s %.3f s past its deadline: discarded (ETIMEDOUT)",
      (unsigned long long)size, (unsigned long long)offset, (unsigned long long)high, (unsigned long long)low,
      (unsigned long long)lfClientId, stage, late / 1e9);
  return true;
}

void FabricServer::ackWrite(const ReplyTo &to, int32_t status, uint64_t dataSize) {
  if (!cache_.persistPending()) return sendResponse(to, status, dataSize);
  heldAcks_.push_back({to, dataSize, status});
}

// Group commit: every write committed since the last call becomes durable in one batch (two
// flushes per pool), then their acknowledgements go out. Called after each round of work,
// before store completions run (they may clear the records the batch writes).
void FabricServer::persistAndAck() {
  if (cache_.persistPending()) cache_.persistBatch();
  std::vector<HeldAck> acks;
  acks.swap(heldAcks_);
  for (const HeldAck &a : acks) sendResponse(a.to, a.status, a.dataSize);
}

void FabricServer::expireRequests() {
  auto now = std::chrono::steady_clock::now();
  for (auto &kv : inflight_) {
    Request *req = kv.first;
    // A failed in-place write whose RMA ops may still land gives its range back as soon as it
    // can (its segments move to fresh slots; see SegmentCache::abandonInPlace): retried here
    // while another request pins one of its segments.
    if (req->replied && req->inPlace && !req->inPlaceAbandoned && req->pending > 0)
      req->inPlaceAbandoned = cache_.abandonInPlace(req->cached);
    if (req->replied || req->pending == 0 || now < req->deadline) continue;
    // The RMA ops stay posted (libfabric cannot take them back): the request lingers until they
    // complete or fail (at the latest when the client disconnects). A staged write's
    // segments are released now (its bytes are only in staging); a read or an in-place write
    // keeps its pieces pinned until then (the provider may still be writing into them).
    req->replied = true;
    if (req->fenceNs && monoNs() >= req->fenceNs - 1000000) {  // its deadline (1 ms: the two clocks' readings)
      // Its deadline: whatever its RMA does later, the write is not applied (finishRequest).
      metrics_.fenced();
      log(LOG_WARN, "fence", "write of %llu bytes at %llu of object %llx:%llx from client %llu: RMA not complete at its deadline: discarded (ETIMEDOUT)",
          (unsigned long long)req->size, (unsigned long long)req->offset, (unsigned long long)req->objHigh,
          (unsigned long long)req->objLow, (unsigned long long)req->to.lfClientId);
    } else {
      log(LOG_WARN, "fabric", "RMA %s client %llu did not complete within %d s: request failed (ETIMEDOUT)",
          req->write ? "from" : "to", (unsigned long long)req->to.lfClientId, opts_.rmaTimeoutSec);
    }
    if (req->write && !req->inPlace && !req->cached.empty()) {
      cache_.release(req->cached);
      req->cached.clear();
    }
    // An in-place write gives its range back now: the provider may still land bytes in its slots,
    // so they stay with the request and the segments continue in fresh ones (the range restored
    // from the store); others' accesses outside the range never waited for it.
    if (req->write && req->inPlace) req->inPlaceAbandoned = cache_.abandonInPlace(req->cached);
    reply(req->to, -ETIMEDOUT, "the transfer did not complete within --rma-timeout");
    metrics_.latency(req->msgType, now - req->started);
  }
}

}  // namespace server
}  // namespace ioc
