// The server's libfabric side: receives protocol messages on one RDM endpoint, serves them from
// the segment cache (eager data inline up to 32 KiB, server-driven RMA above) and replies.
// One thread runs everything here; other threads only call wake() and clientGone().
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <ctime>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/failpoint.h"
#include "fabric/fabric.h"
#include "fabric/protocol.h"
#include "server/client_table.h"
#include "server/control_mailbox.h"
#include "server/metrics.h"
#include "server/options.h"
#include "server/parking_lot.h"
#include "server/range_registry.h"
#include "server/request_context.h"
#include "server/segment_cache.h"
#include "server/send_queue.h"
#include "server/tcp_channel.h"

namespace ioc {
namespace server {

class FabricServer {
 public:
  FabricServer(const ServerOptions &opts, fabric::Transport &transport, SegmentCache &cache,
               RangeRegistry &ranges, TcpChannel &tcp);
  ~FabricServer();
  // Serve until stop becomes true (then tell the clients, and return).
  void run(const std::atomic<bool> &stop);
  void wake() { transport_.cq.signal(); }
  // After run(): operations to peers that never progressed were still posted, so the endpoint
  // was not closed; the process must then exit without destroying the fabric objects.
  bool endpointLeftOpen() const { return endpointLeftOpen_; }
  // From the TCP thread: a client's side channel closed.
  void clientGone(uint64_t tcpClientId);
  // From any thread (e.g. on SIGUSR1): log the cache figures now.
  void requestStats() {
    statsRequested_ = true;
    wake();
  }
  // From the control thread (IOC_CONTROL_FD): answer "stats" or "ls" with one JSON line, built
  // on the fabric thread (which owns the cache and the counters).
  std::string control(const std::string &command);

 private:
  using Op = FabricOp;
  using SendOp = SendQueue::Slot;
  struct RecvOp : Op {
    char *buf;
  };
  struct Request;
  struct RmaOp : Op {
    Request *req;
  };
  // A read/write/ping waiting for its RMA operations before the reply goes out.
  struct Request {
    ReplyTo to;
    uint64_t size;
    size_t pending = 0;
    int error = 0;
    proto::Ping ping;  // for PING: echoed back
    std::vector<RmaOp> ops;
    std::unique_ptr<char[]> scratch;
    size_t scratchCapacity = 0;  // staging buffers go back to stagingPool_
    fabric::MemoryRegion scratchMr;
    bool write = false;
    std::vector<Piece> cached;  // pinned cache pieces, released when the request finishes
    // A client write is fi_read into scratch (staging) and copied into `cached` only once every
    // RMA succeeded: a failed or abandoned transfer never leaves part-written segments. When
    // every segment is clean (SegmentCache::writableInPlace) it is fi_read into `cached` itself
    // (inPlace), and a failure puts the stored bytes back instead.
    bool inPlace = false;
    // An in-place write that failed (timed out) with RMA ops still posted gave its range back
    // (SegmentCache::abandonInPlace): its pieces now hold only the old slots, freed at its end.
    bool inPlaceAbandoned = false;
#ifdef IOC_FAILPOINTS_ENABLED
    // Failpoint server.stall_inplace_write: half of the transfer is never posted (a writer
    // stopped mid-transfer); the request ends (fails) once its posted ops are done and its
    // client is gone.
    bool stalled = false, stalledClientGone = false;
    uint64_t tcpClientId = 0;  // held requests (failpoints) end when this client goes
    bool heldOnce = false;     // held by a failpoint once: never again
#endif
    std::chrono::steady_clock::time_point deadline;  // --rma-timeout
    bool replied = false;  // timed out: answered already, dropped once its RMA ops complete
    uint64_t msgType = 0;  // metrics: the request's type and when its handling started
    std::chrono::steady_clock::time_point started;
    // Fencing: the write's deadline on our monotonic clock (RequestDeadline; 0: none). Its bytes
    // go into the cache only before it; later the request fails (ETIMEDOUT) and nothing of it
    // is applied.
    int64_t fenceNs = 0;
    uint64_t objHigh = 0, objLow = 0, offset = 0;  // for the log line of a fenced write
  };
  using Parked = ParkingLot::Parked;
  // Fencing (RequestDeadline): our clock in ns, CLOCK_BOOTTIME (monotonic, and it goes on
  // while the machine is suspended: a clock that stood still would let a deadline pass later in
  // real time than the client's); whether a deadline has passed (logs and counts the discarded
  // write when it has).
  static int64_t monoNs() {
    timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
  }
  bool fenced(int64_t fenceNs, const char *stage, uint64_t lfClientId, int64_t high, int64_t low, uint64_t offset,
              uint64_t size);
  // The same moment on steady_clock (for the timers that answer a request at its deadline; the
  // checks that decide use monoNs()).
  static std::chrono::steady_clock::time_point fenceTime(int64_t fenceNs) {
    return std::chrono::steady_clock::now() + std::chrono::nanoseconds(fenceNs - monoNs());
  }

  bool postRecv(RecvOp *op);
  void progress();  // reads completions, queues the work they make
  void onCompletion(const fabric::Completion &c);
  void drainWork();
  bool retryAfterEagain(std::chrono::steady_clock::time_point start, int limitMs);
  // The Response to a request: status, and inline data (the pieces' bytes, or `data`), and for
  // a failure the reason the server knows (a ReplyReason, ignored by the original client).
  void sendResponse(const ReplyTo &to, int32_t status, uint64_t dataSize = 0, const std::vector<Piece> *data = nullptr);
  void reply(const ReplyTo &to, int32_t status, const std::string &reason = std::string());
  void replyData(const ReplyTo &to, const void *data, size_t len);
  // A committed write's acknowledgement: sent at once, or, when the cache batches persists
  // (group commit with --nvdimm), held until persistAndAck() made the batch durable.
  void ackWrite(const ReplyTo &to, int32_t status, uint64_t dataSize);
  void persistAndAck();
  struct HeldAck {
    ReplyTo to;
    uint64_t dataSize;
    int32_t status;
  };
  std::vector<HeldAck> heldAcks_;
  void handleMessage(Incoming &in, const char *buf, size_t len);
  // Handle a message; when the handler asked to wait (park()), keep a copy to handle again.
  void dispatch(const char *buf, size_t len, const Parked *again = nullptr);
  void park(Incoming &in) { in.parked = true; }
  void retryParked();
  // Handlers, by family: connections (fabric_server_connect.cc), data (read, write, ping:
  // fabric_server_transfer.cc), objects (flush, create, cow, ranges: fabric_server_objects.cc),
  // the namespace (stat, list, delete: fabric_server_namespace.cc). Each decodes its payload,
  // answers through in.to, or marks the request async/parked.
  void handleConnect(const proto::Header &h, proto::Reader &r);
  void handleReadWrite(Incoming &in, proto::Reader &r, bool write);
  // An eager write the cache sends straight to its store (SegmentCache::writeThrough): true when
  // taken (answered when the store has it).
  bool writeThrough(Incoming &in, const proto::ReadWrite &m, int64_t fenceNs);
  // An eager write's bytes into the cache (committed: durable with --nvdimm): 0, kBusy (nothing
  // written: wait for the cache), or a negative errno; cacheWriteReason says why in words.
  int copyIntoCache(const proto::ObjectId &id, uint64_t offset, const char *data, size_t size);
  std::string cacheWriteReason(int ret) const;
  void handlePing(Incoming &in, proto::Reader &r);
  // Several small writes of one object in one message (fabric_server_write_pieces.cc).
  void handleWritePieces(Incoming &in, proto::Reader &r);
  void handleFlush(Incoming &in, proto::Reader &r);
  void handleCreate(Incoming &in, proto::Reader &r);
  void handleRegister(Incoming &in, proto::Reader &r);
  void handleUnregister(Incoming &in, proto::Reader &r);
  void handleCow(Incoming &in, proto::Reader &r);
  void handleStat(Incoming &in, proto::Reader &r);
  void handleList(Incoming &in, proto::Reader &r);
  void handleDelete(Incoming &in, proto::Reader &r);
  // A range [offset, offset+size) that overflows or ends past --max-object-size: the error (and
  // its log line), else 0.
  int badRange(const Incoming &in, uint64_t offset, uint64_t size, const char *what);
  // The reason of a store job's failure, for the reply ("store dir:///srv/ioc: Permission
  // denied"); empty for success and for errors that are not the store's.
  std::string storeReason(int ret) const;
  // The answer of a request that completes later (a store job): marks it async, and returns
  // what sends the reply (with the store's reason on failure) and records its latency.
  std::function<void(int)> replyLater(Incoming &in);
  void startRma(Incoming &in, std::unique_ptr<Request> req, const std::vector<Piece> &pieces, const proto::Iov &iov,
                bool write);
  void finishRequest(Request *req);
  void expireRequests();  // answer requests whose RMA outlived --rma-timeout
  // The connected client that owns these TCP credentials (nullptr when they are not valid).
  const ClientTable::Entry *senderOf(uint64_t tcpClientId, uint64_t tcpClientKey);
  void broadcastFatal(const std::string &message);
  void stopTransfers();  // at shutdown: drain (bounded), close the endpoint, abandon the rest
  void drainClientGone();
  void printStats();
  void logCacheStats(bool onlyIfChanged);
  std::string controlAnswer(const std::string &command);

  const ServerOptions &opts_;
  fabric::Transport &transport_;
  SegmentCache &cache_;
  RangeRegistry &ranges_;
  TcpChannel &tcp_;

  std::vector<RecvOp> recvOps_;
  bool endpointLeftOpen_ = false;
  std::unique_ptr<char[]> recvBuf_;
  fabric::MemoryRegion recvMr_;
  void *recvDesc_ = nullptr;

  std::deque<std::pair<RecvOp *, size_t>> readyRecvs_;
  std::deque<Request *> doneRequests_;
  ParkingLot parked_;
#ifdef IOC_FAILPOINTS_ENABLED
  std::vector<Request *> heldInPlace_;  // failpoint server.hold_inplace_write
  // Failpoint server.hold_writes_until_unregisters (finishRequest): unregisters still to come.
  long long holdWritesUntilUnregisters_ = IOC_FAILPOINT_VALUE(server_hold_writes_until_unregisters);
  std::vector<Request *> heldWrites_;
  bool holdForFailpoint(Request *req);  // finishRequest: held by a failpoint
  void stallForFailpoint(Request *req, std::vector<Piece> &pieces, size_t &unposted);
  void releaseHeldOf(uint64_t tcpClientId);
#endif
  void countUnregisterForHoldHook();
  std::map<Request *, std::unique_ptr<Request>> inflight_;
  ClientTable clients_;
  uint64_t nextMrKey_ = 1u << 20;
  SendQueue sends_;  // after nextMrKey_: it registers its first slots when constructed
  // Staging buffers of large writes, kept for reuse: the page faults of a fresh buffer cost more
  // than the transfer itself. At most STAGING_KEEP of them, each at
  // most STAGING_KEEP_MAX bytes and an eighth of --cache-size, stay allocated; fresh ones are
  // populated in one call (populate()) rather than faulted page by page.
  std::vector<std::pair<size_t, std::unique_ptr<char[]>>> stagingPool_;
  std::unique_ptr<char[]> takeStaging(size_t size, size_t &capacity);
  void returnStaging(std::unique_ptr<char[]> buf, size_t capacity);
  // Microseconds to poll after activity before sleeping (IOC_SERVER_SPIN_US, default 50).
  int spinUs_ = [] {
    const char *v = getenv("IOC_SERVER_SPIN_US");
    return v ? std::max(0, std::min(1000, atoi(v))) : 50;
  }();

  std::mutex goneMu_;
  std::vector<uint64_t> gone_;

  uint64_t bytesRead_ = 0, bytesWritten_ = 0, lastRead_ = 0, lastWritten_ = 0;
  std::atomic<bool> statsRequested_{false};
  std::string lastCacheStats_;

  ServerMetrics metrics_;  // fabric thread only
  // stopTransfers() runs: the clients were told FATAL_ERROR (their calls failed), so writes
  // whose RMA completes now are discarded, never applied after that report.
  bool draining_ = false;
  ControlMailbox mailbox_;
};

}  // namespace server
}  // namespace ioc
