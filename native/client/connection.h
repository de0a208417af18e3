// One client connection to the server: a libfabric endpoint that carries the id/key of the
// handle's TCP side channel (side_channel.h), and the request/response exchange over it. Not
// thread-safe: the client library hands each calling thread its own Connection.
// Opening it: connection.cc; a call: connection_call.cc; its completions: connection_replies.cc.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "client/connect_options.h"
#include "client/side_channel.h"
#include "fabric/fabric.h"
#include "fabric/protocol.h"

namespace ioc {
namespace client {

// ofi_rxm sizes its receive buffers for MPI ranks, tens of MiB per connection; a client has one
// request in flight per connection, so 32 are ample. Sets them (unless the environment does)
// for libfabric's initialisation only, so that child processes (a server, say) never inherit
// them. Once per process, before the first connection.
void applyProviderDefaults();

// Connection failures and drops on stderr: IOC_DEBUG (client and server), or IOC_CLIENT_DEBUG
// (the client alone: the test runs set it, so that a CI log says why a call failed).
bool clientDebug();

class Connection {
 public:
  // Throws ConnectError on failure. side: the handle's side channel to this server, shared by
  // its connections; nullptr: this connection opens its own.
  explicit Connection(const ConnectOptions &opts, std::shared_ptr<SideChannel> side = nullptr);
  ~Connection();

  // Send one request and wait for its reply; onReply decodes the reply payload.
  // Returns the reply status (>= 0 as the server gave it) or a negative errno.
  using ReplyHandler = std::function<int(uint64_t msgType, proto::Reader &payload)>;
  int call(uint64_t msgType, const std::function<void(proto::Writer &)> &encodePayload, uint64_t replyType,
           const ReplyHandler &onReply);

  // The same exchange in steps, for callers with their own event loop (the Node addon):
  // begin() sends the request; advance() handles what completed without blocking and returns
  // 1 once the reply is in (status()), 0 while waiting, < 0 on failure; between calls, wait
  // until waitFd() is readable (after transport().cq.tryWait() said it may sleep) or the
  // deadline, and call checkAlive() now and then. Errors leave the connection broken().
  int begin(uint64_t msgType, const std::function<void(proto::Writer &)> &encodePayload, uint64_t replyType,
            const ReplyHandler &onReply);
  int advance();
  int checkAlive();
  int status() const { return call_.status; }
  int waitFd() const { return transport_->cq.waitFd(); }
  bool tryWait() { return transport_->cq.tryWait(transport_->fabric); }
  std::chrono::steady_clock::time_point deadline() const { return call_.deadline; }
  // How long a passive wait polls before it sleeps (IOC_CLIENT_SPIN_US, default 50 us).
  static int spinMicros();

  // Register a user buffer for server-driven RMA; fills iov. The returned region must outlive the call.
  fabric::MemoryRegion registerBuffer(void *buf, size_t len, proto::Iov &iov);

  bool broken() const { return broken_; }
  // After a call failed with a reset: whether this idle connection may be stale too, because
  // the server closed our side channel, or there is none to tell (server run with --no-auth).
  bool maybeStale() { return broken_ || side_->fd() < 0 || serverGone(); }
  const std::string &providerName() const { return providerName_; }
  void setPassiveWait(bool v) { opts_.passiveWait = v; }
  void setTimeout(unsigned ms) { opts_.timeoutMs = ms; }
  const std::string &lastError() const { return lastError_; }
  // Test hook (tools/proto_probe): send these TCP credentials instead of the ones we were given.
  void overrideCredentials(uint64_t tcpClientId, uint64_t tcpClientKey) {
    tcp_.clientId = tcpClientId;
    tcp_.clientKey = tcpClientKey;
  }
  uint64_t tcpClientId() const { return tcp_.clientId; }
  uint64_t tcpClientKey() const { return tcp_.clientKey; }
  // From the handshake: the server's start epoch (0: an original server, which sends none) and
  // whether it keeps acknowledged writes across a restart.
  uint64_t serverEpoch() const { return serverEpoch_; }
  bool serverDurable() const { return serverDurable_; }
  // Fencing (RequestDeadline): whether the server takes write deadlines (its handshake sent its
  // clock), and how much earlier than our own deadline of a call the one we send to it is.
  bool fencing() const { return fencing_; }
  static std::chrono::nanoseconds fenceGuard(unsigned timeoutMs);
  // From the handshake: whether the server sent our server info (false: an original server),
  // and the proto::Feature bits it listed (0 when it sent none).
  bool hasServerInfo() const { return errnoStatuses_; }
  uint64_t features() const { return features_; }
  // The ReplyReason the server appended to the failed reply of the last call ("" when none).
  const std::string &replyReason() const { return replyReason_; }

 private:
  void openEndpoint();
  void closeEndpoint();
  int handshake(const std::vector<char> &name);
  std::string handshakeState(const std::vector<char> &ourName) const;
  int callUnchecked(uint64_t msgType, const std::function<void(proto::Writer &)> &encodePayload, uint64_t replyType,
                    const ReplyHandler &onReply);
  int postSend(size_t len, std::chrono::steady_clock::time_point deadline);
  // Queue what the completion queue holds (waiting up to waitMs for it when > 0); how many.
  size_t collect(int waitMs);
  // One completion of the call in flight; < 0 when the connection cannot go on.
  int onCompletion(const fabric::Completion &c);
  int onSendDone(const fabric::Completion &c);
  bool refusedTrailer(const proto::Header &rh, proto::Reader r) const;
  void takeReply(const proto::Header &rh, proto::Reader &r);
  bool serverGone();
  void repost(char *buf);
  // A line on stderr under clientDebug(), naming this connection's server.
  void debug(const char *fmt, ...) const __attribute__((format(printf, 2, 3)));

  ConnectOptions opts_;
  std::shared_ptr<SideChannel> side_;
  proto::TcpHandshake tcp_;  // side_'s credentials (overrideCredentials may change this copy)
  std::unique_ptr<fabric::Transport> transport_;
  fi_addr_t server_ = FI_ADDR_UNSPEC;
  uint64_t lfClientId_ = 0;
  uint64_t serverEpoch_ = 0;
  bool serverDurable_ = false;
  // From the handshake: the server's statuses are negative errno values (ours; it appends its
  // server info to ASSIGN_ID). The original's are -1 for every failure.
  bool errnoStatuses_ = false;
  uint64_t features_ = 0;
  std::string replyReason_;
  // Fencing: a lower bound of (server clock - our clock), from the handshake: the server's
  // stamp minus our clock when its ASSIGN_ID was handled (the stamp was taken before that), and
  // when it was taken (a bound on clock drift since is subtracted, see begin()).
  bool fencing_ = false;
  int64_t serverLeadNs_ = 0;
  std::chrono::steady_clock::time_point leadTakenAt_;
  std::string providerName_;
  std::unique_ptr<char[]> buffers_;  // RECV_SLOTS receive buffers + one send buffer
  fabric::MemoryRegion buffersMr_;
  void *desc_ = nullptr;
  struct Slot {
    fi_context2 ctx;
    char *buf;
  };
  static constexpr size_t RECV_SLOTS = 4;
  Slot recv_[RECV_SLOTS];
  Slot send_;
  struct PendingCall {
    uint64_t replyType = 0;
    uint64_t requestType = 0;
    ReplyHandler onReply;
    std::chrono::steady_clock::time_point deadline;
    bool replied = false;
    int status = 0;
    uint64_t sequence = 0;  // sent in the request's trailer; 0: none (CONNECT_INIT)
    size_t length = 0;      // of the request in send_.buf
    bool fenced = false;    // a write sent with a RequestDeadline (before its trailer)
    // A fenced write whose send failed: the server may still have it, so the call fails only
    // at its deadline (then the server can no longer apply it), with this error.
    int inDoubtError = 0;
  };
  // iocatcher-ts servers older than the request trailer refuse trailing bytes (-EINVAL): a
  // connection that never saw an echo and gets that answer sends the request again without
  // its trailer, and no trailers from then on.
  bool sendTrailer_ = true;
  bool sawEcho_ = false;
  bool resendPlain_ = false;  // once our send completed
  int resendWithoutTrailer();
  PendingCall call_;
  bool sendPosted_ = false;
  unsigned sendRetries_ = 0;  // fi_send EAGAINs of the current call (the provider still connecting)
  std::deque<fabric::Completion> pending_;  // read while waiting for something else
  bool sendBusy_ = false;
  bool bulkCall_ = false;  // registerBuffer() was given more than 64 KiB for the next call
  bool broken_ = false;
  std::string lastError_;
};

}  // namespace client
}  // namespace ioc
