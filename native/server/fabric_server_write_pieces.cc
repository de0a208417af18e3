// OBJ_WRITE_PIECES (an extension): several small writes of one object in one message, each
// applied as an eager OBJ_WRITE would be (its checks and fence, straight to the store when its
// segment is only there, else into the cache), and one acknowledgement once all are applied.
#include <errno.h>

#include <memory>
#include <vector>

#include "server/fabric_server.h"
#include "server/log.h"

namespace ioc {
namespace server {

using namespace proto;

namespace {

// The pieces of one message still on their way to the store; the reply goes when the last one
// lands. Dropped (nothing more is answered) when the message is parked: it is handled again
// from its first piece, and those already sent are written once more, with the same bytes.
struct PiecesInFlight {
  size_t pending = 0;
  uint64_t bytes = 0;
  int error = 0;
  bool armed = false;    // every piece was handed over: the last completion replies
  bool dropped = false;  // parked, or answered already
};

}  // namespace

void FabricServer::handleWritePieces(Incoming &in, Reader &r) {
  WritePieces m;
  if (!decodePayload(r, m)) {
    log(LOG_WARN, "protocol", "malformed OBJ_WRITE_PIECES (%zu bytes) from client %llu: refused", r.remaining(), (unsigned long long)in.header.lfClientId);
    return reply(in.to, -EINVAL, "malformed OBJ_WRITE_PIECES");
  }
  const Header &h = in.header;
  for (const WritePieces::Piece &p : m.pieces)
    if (int err = badRange(in, p.offset, p.size, "OBJ_WRITE_PIECES"))
      return reply(in.to, err, err == -EINVAL ? std::string("a piece's range overflows")
                                              : "a piece ends past --max-object-size " + std::to_string(opts_.maxObjectSize));
  const ObjectId id = m.objectId;
  int64_t fenceNs = in.fenceNs;
  if (fenced(fenceNs, "arrived", h.lfClientId, id.high, id.low, m.pieces.front().offset, m.totalBytes()))
    return reply(in.to, -ETIMEDOUT, "the write arrived after its deadline");
  auto state = std::make_shared<PiecesInFlight>();
  ReplyTo to = in.to;
  auto started = in.started;
  // Each piece counts as the write it stands for (metrics, and failpoint server.write_committed).
  std::vector<uint32_t> sizes;
  for (const WritePieces::Piece &p : m.pieces) sizes.push_back(p.size);
  auto answer = [this, to, started, sizes](int ret, uint64_t bytes) {
    metrics_.latency(OBJ_WRITE_PIECES, std::chrono::steady_clock::now() - started);
    if (ret == -ETIMEDOUT) return reply(to, ret, "the write reached the store after its deadline");
    if (ret < 0) return reply(to, ret, storeReason(ret));
    bytesWritten_ += bytes;
    for (uint32_t size : sizes) metrics_.transfer(true, false, size);
    ackWrite(to, 0, bytes);
  };
  uint64_t cachedBytes = 0;
  for (const WritePieces::Piece &p : m.pieces) {
    uint64_t lfClientId = h.lfClientId, offset = p.offset, size = p.size;
    int through = cache_.writeThrough(
        id, p.offset, p.data, p.size,
        [this, fenceNs, lfClientId, id, offset, size] {
          return fenced(fenceNs, "reached the store", lfClientId, id.high, id.low, offset, size);
        },
        [state, answer, size](int ret) {
          state->pending--;
          if (ret < 0 && state->error == 0) state->error = ret;
          if (ret == 0) state->bytes += size;
          if (state->dropped || !state->armed || state->pending > 0) return;
          state->dropped = true;
          answer(state->error, state->bytes);
        });
    if (through == 0) {
      state->pending++;
      continue;
    }
    int ret = copyIntoCache(id, p.offset, p.data, p.size);
    if (ret < 0) {
      state->dropped = true;  // what went to the store meanwhile answers nobody
      if (ret == SegmentCache::kBusy) return park(in);
      return reply(in.to, ret, cacheWriteReason(ret));
    }
    cachedBytes += p.size;
  }
  in.async = true;  // answer() times it
  state->bytes += cachedBytes;
  if (state->pending == 0) return answer(0, state->bytes);
  state->armed = true;
}

}  // namespace server
}  // namespace ioc
