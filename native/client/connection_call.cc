// One call over a Connection: the request with its fencing deadline and sequence trailer, its
// send, and the wait for its reply within the call's deadline. The completions: connection_replies.cc.
#include "client/connection.h"

#include <errno.h>
#include <sched.h>

#include <atomic>
#include <random>
#include <thread>

namespace ioc {
namespace client {

using namespace proto;
using Clock = std::chrono::steady_clock;

// Request sequences, unique across the connections of this process (a reply that reaches
// another connection of the same handle never matches), starting at a random point.
static uint64_t nextSequence() {
  static std::atomic<uint64_t> next{[] {
    std::random_device rd;
    return ((uint64_t)rd() << 32) ^ rd();
  }()};
  uint64_t s;
  do s = next++;
  while (s == 0);  // 0 means "no sequence"
  return s;
}

size_t Connection::collect(int waitMs) {
  fabric::Completion c[8];
  size_t n = waitMs > 0 ? transport_->cq.wait(c, 8, waitMs) : transport_->cq.poll(c, 8);
  for (size_t i = 0; i < n; i++) pending_.push_back(c[i]);
  return n;
}

int Connection::call(uint64_t msgType, const std::function<void(Writer &)> &encodePayload, uint64_t replyType,
                     const ReplyHandler &onReply) {
  // Nothing may escape into the C API (or a Node worker): a failing provider call breaks this
  // connection, and the caller gets an errno-style error.
  try {
    return callUnchecked(msgType, encodePayload, replyType, onReply);
  } catch (const std::exception &e) {
    lastError_ = e.what();
  }
  broken_ = true;
  return -EIO;
}

int Connection::begin(uint64_t msgType, const std::function<void(Writer &)> &encodePayload, uint64_t replyType,
                      const ReplyHandler &onReply) {
  if (broken_) return -ECONNRESET;
  Writer w(send_.buf, MSG_BUFFER_SIZE);
  Header h;
  h.msgType = msgType;
  h.lfClientId = lfClientId_;
  h.tcpClientId = tcp_.clientId;
  h.tcpClientKey = tcp_.clientKey;
  h.encode(w);
  encodePayload(w);
  auto deadline = Clock::now() + std::chrono::milliseconds(opts_.timeoutMs);
  // Fencing: a write carries its deadline in the server's clock, never later than ours (at
  // which a call without reply fails with ETIMEDOUT): the lower bound of the clock difference,
  // minus fenceGuard() and 500 ppm of drift since the bound was taken (the most NTP slews a
  // clock). Only to a server that said it takes deadlines.
  bool fenced = fencing_ && (msgType == OBJ_WRITE || msgType == OBJ_WRITE_PIECES) && sendTrailer_ && opts_.timeoutMs;
  if (fenced) {
    RequestDeadline d;
    int64_t ourNs = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        (deadline - fenceGuard(opts_.timeoutMs)).time_since_epoch()).count();
    int64_t driftNs = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - leadTakenAt_).count() / 2000;
    d.serverNs = ourNs + serverLeadNs_ - driftNs;
    if (d.serverNs == 0) d.serverNs = -1;  // 0 means "none" on the wire
    d.encode(w);
  }
  RequestTrailer trailer;
  if (msgType != CONNECT_INIT && sendTrailer_) {
    trailer.sequence = nextSequence();
    trailer.encode(w);
  }
  if (!w.ok()) return -EMSGSIZE;
  call_ = PendingCall();
  replyReason_.clear();
  call_.sequence = trailer.sequence;
  call_.length = w.size();
  call_.fenced = fenced;
  resendPlain_ = false;
  sendRetries_ = 0;
  sendPosted_ = false;
  call_.replyType = replyType;
  call_.requestType = msgType;
  call_.onReply = onReply;
  call_.deadline = deadline;
  int ret = postSend(w.size(), call_.deadline);
  if (ret < 0) broken_ = true;
  return ret;
}

// The server may take this long between its last check of a write's deadline and the end of
// its copy into its cache (CPU work, no waiting); our own check of our deadline can only come
// later, which is safe. An eighth of the timeout, at least 10 ms, at most 500 ms.
std::chrono::nanoseconds Connection::fenceGuard(unsigned timeoutMs) {
  unsigned ms = std::min(500u, std::max(10u, timeoutMs / 8));
  return std::chrono::milliseconds(ms);
}

int Connection::resendWithoutTrailer() {
  resendPlain_ = false;
  sendTrailer_ = false;
  call_.sequence = 0;
  call_.length -= RequestTrailer::WIRE_SIZE + (call_.fenced ? RequestDeadline::WIRE_SIZE : 0);
  call_.fenced = false;
  return postSend(call_.length, call_.deadline);
}

int Connection::postSend(size_t len, Clock::time_point deadline) {
  auto start = Clock::now(), lastCheck = start;
  for (;;) {
    ssize_t ret = transport_->ep.send(send_.buf, len, desc_, server_, &send_);
    if (ret == 0) {
      sendBusy_ = sendPosted_ = true;
      return 0;
    }
    if (ret != -FI_EAGAIN) {
      lastError_ = std::string("fi_send: ") + fi_strerror((int)-ret);
      return -ECONNRESET;
    }
    // EAGAIN: the provider needs progress (e.g. while it connects); never spin forever.
    sendRetries_++;
    collect(0);
    auto now = Clock::now();
    if (opts_.timeoutMs && now >= deadline) {
      lastError_ = "timed out sending to the server";
      return -ETIMEDOUT;
    }
    if (now - lastCheck > std::chrono::milliseconds(10)) {
      lastCheck = now;
      if (serverGone()) {
        lastError_ = "the server closed the connection";
        return -ECONNRESET;
      }
    }
    // ofi_rxm may answer EAGAIN for as long as it connects: after the first millisecond, sleep
    // between tries so that this thread leaves the CPU to the server that must accept us.
    if (opts_.passiveWait && now - start > std::chrono::milliseconds(1))
      std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

int Connection::advance() {
  try {
    collect(0);
    while (!pending_.empty()) {
      fabric::Completion one = pending_.front();
      pending_.pop_front();
      int ret = onCompletion(one);
      if (ret < 0) {
        broken_ = true;
        return ret;
      }
    }
  } catch (const std::exception &e) {
    lastError_ = e.what();
    broken_ = true;
    return -EIO;
  }
  return call_.replied && !sendBusy_ ? 1 : 0;
}

int Connection::checkAlive() {
  if (broken_) return -ECONNRESET;
  if (opts_.timeoutMs && Clock::now() >= call_.deadline) {
    // A fenced write's deadline on the server (RequestDeadline) has passed too: from now on
    // the server cannot apply it, so failing it here is final.
    if (call_.inDoubtError) {
      broken_ = true;
      return call_.inDoubtError;
    }
    lastError_ = "timed out waiting for the server";
    broken_ = true;  // a late reply would confuse the next call: this connection is done
    return -ETIMEDOUT;
  }
  if (serverGone()) {
    lastError_ = "the server closed the connection";
    broken_ = true;
    return -ECONNRESET;
  }
  return 0;
}

// A bounded poll before a passive wait sleeps: a reply already on its way then costs no sleep
// and wake-up, and a slow one still ends in a blocking wait.
int Connection::spinMicros() {
  static const int us = [] {
    const char *v = getenv("IOC_CLIENT_SPIN_US");
    return v ? std::max(0, std::min(1000, atoi(v))) : 50;
  }();
  return us;
}

int Connection::callUnchecked(uint64_t msgType, const std::function<void(Writer &)> &encodePayload, uint64_t replyType,
                              const ReplyHandler &onReply) {
  // A call moving a registered buffer of more than 64 KiB takes milliseconds: polling for its
  // reply would only take the CPU the server needs.
  bool bulk = bulkCall_;
  bulkCall_ = false;
  int ret = begin(msgType, encodePayload, replyType, onReply);
  if (ret < 0) return ret;
  auto lastCheck = Clock::now();
  for (;;) {
    ret = advance();
    if (ret < 0) return ret;
    if (ret == 1) return call_.status;
    // Nothing yet: block in the CQ (passive) or spin on it (active), checking the deadline
    // and the side channel now and then. A passive wait polls for spinMicros() first, yielding
    // between polls: with more runnable threads than cores, a polling client must not keep
    // the server off the CPU.
    size_t n = 0;
    if (opts_.passiveWait && spinMicros() > 0 && !bulk) {
      auto spinEnd = Clock::now() + std::chrono::microseconds(spinMicros());
      while (n == 0 && Clock::now() < spinEnd) {
        n = collect(0);
        if (n == 0) sched_yield();
      }
    }
    if (n == 0) n = collect(opts_.passiveWait ? 50 : 0);
    if (n) continue;
    auto now = Clock::now();
    if (opts_.passiveWait || now - lastCheck > std::chrono::milliseconds(20) || now >= call_.deadline) {
      lastCheck = now;
      ret = checkAlive();
      if (ret < 0) return ret;
    }
  }
}

}  // namespace client
}  // namespace ioc
