// What completes while a call of a Connection is in flight: our send, and the server's
// messages, of which only the reply echoing the call's sequence answers it.
#include "client/connection.h"

#include <errno.h>

#include <atomic>

namespace ioc {
namespace client {

using namespace proto;

static std::atomic<uint64_t> g_discardedReplies{0};  // by every connection of the process

void Connection::repost(char *buf) {
  Slot *slot = nullptr;
  for (auto &s : recv_)
    if (s.buf == buf) slot = &s;
  for (int attempt = 0;; attempt++) {
    ssize_t ret = transport_->ep.postRecv(buf, MSG_BUFFER_SIZE, desc_, slot);
    if (ret == 0) return;
    if (ret != -FI_EAGAIN || attempt > 100000) {
      broken_ = true;
      lastError_ = std::string("fi_recv: ") + fi_strerror((int)-ret);
      return;
    }
    collect(0);
  }
}

int Connection::onSendDone(const fabric::Completion &c) {
  sendBusy_ = false;
  if (!c.error) return resendPlain_ ? resendWithoutTrailer() : 0;
  lastError_ = std::string("send failed: ") + fi_strerror(-c.error);
  if (call_.fenced && !call_.replied) {
    // The message may have left before the failure: the server could still apply the write
    // until its deadline, so the call fails then, not now.
    call_.inDoubtError = -ECONNRESET;
    return 0;
  }
  return -ECONNRESET;
}

int Connection::onCompletion(const fabric::Completion &c) {
  if (c.context == &send_) return onSendDone(c);
  Slot *slot = static_cast<Slot *>(c.context);
  if (!slot) return 0;
  Reader r(slot->buf, c.len);
  Header rh;
  if (c.error || !rh.decode(r)) {
    repost(slot->buf);
    return 0;
  }
  if (rh.msgType == FATAL_ERROR) {
    ErrorMessage em;
    lastError_ = decodePayload(r, em) ? "server: " + em.message : "server sent FATAL_ERROR";
    repost(slot->buf);
    return -ECONNRESET;
  }
  // A reply echoing another sequence answers an earlier request of ours (late, repeated, or
  // sent to the wrong connection): taking it would shift every later answer by one call. A
  // reply without an echo (an original server) is taken as before.
  uint64_t echoed;
  bool echoes = rh.echo(echoed);
  if (echoes && (echoed != call_.sequence || call_.replied)) {
    uint64_t discarded = ++g_discardedReplies;
    debug("discarded a %s answering request %llu (waiting for %llu%s; %llu so far)", msgTypeName(rh.msgType),
          (unsigned long long)echoed, (unsigned long long)call_.sequence, call_.replied ? ", answered already" : "",
          (unsigned long long)discarded);
    repost(slot->buf);
    return 0;
  }
  if (echoes) {
    sawEcho_ = true;
  } else if (refusedTrailer(rh, r)) {
    debug("%s refused without echo: resending without the request trailer", msgTypeName(rh.msgType));
    repost(slot->buf);
    resendPlain_ = true;
    return sendBusy_ ? 0 : resendWithoutTrailer();
  }
  takeReply(rh, r);
  repost(slot->buf);  // stray messages (none expected) are dropped
  return 0;
}

// An -EINVAL without echo to a request with a trailer, on a connection that never saw an echo:
// maybe a server older than the trailer refusing its bytes (tried once without it).
bool Connection::refusedTrailer(const Header &rh, Reader r) const {
  if (!call_.sequence || sawEcho_ || call_.replied || rh.msgType != call_.replyType) return false;
  Response resp;
  return resp.decode(r) && resp.status == -EINVAL;
}

void Connection::takeReply(const Header &rh, Reader &r) {
  if (rh.msgType == BAD_AUTH) {
    call_.status = -EACCES;
    call_.replied = true;
  } else if (rh.msgType == ERROR_ACK && !call_.replied) {  // the server could not serve the request at all
    Response resp;
    call_.status = decodeResponse(r, resp, &replyReason_) && resp.status < 0 ? resp.status : -EPROTO;
    call_.replied = true;
  } else if (rh.msgType == call_.replyType && !call_.replied) {
    // Our server may append a ReplyReason to a failed reply: kept for ioc_client_last_error.
    // (The payload's own decoder, onReply, accepts it too: decodeResponse.)
    if (rh.msgType != ASSIGN_ID) {
      Reader peek = r;
      Response resp;
      std::string why;
      if (decodeResponse(peek, resp, &why) && resp.status < 0) replyReason_ = why;
    }
    call_.status = call_.onReply(rh.msgType, r);
    call_.replied = true;
    // The original server answers every failure with -1, which is no errno (it would read as
    // EPERM): an I/O error of that request. Ours speaks errno codes (its handshake says so).
    if (call_.status == -1 && !errnoStatuses_) {
      call_.status = -EIO;
      lastError_ = std::string("the server answered ") + msgTypeName(call_.requestType) +
                   " with status -1 (an original server: no cause given)";
      debug("%s: EIO", lastError_.c_str());
    }
  }
}

}  // namespace client
}  // namespace ioc
