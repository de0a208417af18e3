// FabricServer's connections: the CONNECT_INIT handshake (ASSIGN_ID), the clients' table, and
// their end (a side channel closed, the server shutting down).
#include <errno.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <ctime>

#include "server/fabric_server.h"
#include "server/log.h"

namespace ioc {
namespace server {

using namespace proto;

void FabricServer::handleConnect(const Header &h, Reader &r) {
  FirstClientMessage m;
  if (!decodePayload(r, m)) {
    log(LOG_WARN, "protocol", "dropped a malformed CONNECT_INIT");
    metrics_.dropped();
    return;
  }
  // An address of another format than ours must never reach fi_av_insert: with libfabric 1.17
  // (tcp;ofi_rxm) one failed insert leaves the address vector refusing every later client
  // (found by the live fuzzer, test/fuzz.test.ts).
  uint32_t format = transport_.info->addr_format;
  if (format == FI_SOCKADDR_IN || format == FI_SOCKADDR_IN6 || format == FI_SOCKADDR) {
    sa_family_t family;
    memcpy(&family, m.addr, sizeof family);
    bool ok = (family == AF_INET && format != FI_SOCKADDR_IN6 && m.addrLen >= sizeof(sockaddr_in)) ||
              (family == AF_INET6 && format != FI_SOCKADDR_IN && m.addrLen >= sizeof(sockaddr_in6));
    if (!ok) {
      log(LOG_WARN, "protocol", "refused a CONNECT_INIT with an invalid address (family %u, %zu bytes)",
          (unsigned)family, m.addrLen);
      return;
    }
  }
  fi_addr_t addr;
  try {
    addr = transport_.av.insert(m.addr);
  } catch (const fabric::FabricError &e) {
    log(LOG_WARN, "fabric", "cannot add a client address: %s", e.what());
    metrics_.dropped();
    return;
  }
  uint64_t id = clients_.takeId();
  // Failpoint server.unanswered_connect (e.g. first(N)): a handshake left unanswered, as
  // libfabric 1.17 rarely loses an ASSIGN_ID (the client must retry on a new endpoint;
  // test/reliability.test.ts).
  if (IOC_FAILPOINT(server_unanswered_connect)) {
    log(LOG_WARN, "server", "test hook: CONNECT_INIT of tcp client %llu left unanswered", (unsigned long long)h.tcpClientId);
    return;
  }
  if (!tcp_.authorized(h.tcpClientId, h.tcpClientKey)) {
    log(LOG_WARN, "auth", "bad credentials in CONNECT_INIT (tcp client %llu)", (unsigned long long)h.tcpClientId);
    return sendResponse(ReplyTo{id, addr, 0, BAD_AUTH}, -1);
  }
  clients_.put(id, addr, h.tcpClientId);
  SendOp *op = sends_.acquire();
  Header out;
  out.msgType = ASSIGN_ID;
  out.lfClientId = id;
  FirstHandshake fh;
  fh.assignLfClientId = id;
  // Clients tell a restart from a reconnect by the epoch: a mapping then knows that what this
  // server acknowledged before (only in memory without --nvdimm) is gone.
  static const uint64_t epoch = [] {
    uint64_t e = 0;
    if (getrandom(&e, sizeof e, 0) != sizeof e) e = (uint64_t)time(nullptr) << 20 ^ (uint64_t)getpid();
    return e ? e : 1;
  }();
  fh.hasServerInfo = !IOC_FAILPOINT(server_original_errors);
  fh.serverEpoch = epoch;
  fh.durableWrites = !opts_.nvdimm.empty();
  // Fencing: our clock, from which the client derives a lower bound of (our clock - its clock)
  // and so deadlines on our clock that are never later than its own (RequestDeadline).
  fh.fencing = fh.hasServerInfo && !IOC_FAILPOINT(server_no_fencing);
  fh.serverClockNs = monoNs();
  fh.features = FEATURE_NAMESPACE | FEATURE_ERROR_REASON | FEATURE_WRITE_PIECES;
  sends_.post(op, encodeMessage(op->buf, MSG_BUFFER_SIZE, out, fh), addr);
  log(LOG_DEBUG, "server", "client %llu connected (tcp client %llu)", (unsigned long long)id,
      (unsigned long long)h.tcpClientId);
}

const ClientTable::Entry *FabricServer::senderOf(uint64_t tcpClientId, uint64_t tcpClientKey) {
  return tcp_.authorized(tcpClientId, tcpClientKey) ? clients_.byTcpClient(tcpClientId) : nullptr;
}

void FabricServer::broadcastFatal(const std::string &message) {
  for (auto &kv : clients_) {
    SendOp *op = sends_.acquire();
    Header h;
    h.msgType = FATAL_ERROR;
    h.lfClientId = kv.first;
    ErrorMessage m;
    m.message = message;
    sends_.post(op, encodeMessage(op->buf, MSG_BUFFER_SIZE, h, m), kv.second.addr);
  }
  // Give the messages a moment to leave (bounded: a peer that does not read is not waited for).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  while (std::chrono::steady_clock::now() < deadline) {
    sends_.pump();
    if (!sends_.busy()) break;
    progress();
  }
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
#ifdef IOC_FAILPOINTS_ENABLED
    releaseHeldOf(id);
#endif
    size_t n = ranges_.releaseOwner(id);
    clients_.dropTcpClient(id);
    log(LOG_DEBUG, "server", "tcp client %llu gone, released %zu ranges", (unsigned long long)id, n);
  }
}

#ifdef IOC_FAILPOINTS_ENABLED
// The requests failpoints hold for a client that is now gone: they end (fail) now.
void FabricServer::releaseHeldOf(uint64_t id) {
  // The client's requests taken out of a list of held ones, in their order.
  auto takeRequestsOf = [id](std::vector<Request *> &held) {
    std::vector<Request *> taken, kept;
    for (Request *req : held) (req->tcpClientId == id ? taken : kept).push_back(req);
    held.swap(kept);
    return taken;
  };
  for (Request *req : takeRequestsOf(heldInPlace_)) {
    log(LOG_WARN, "server", "test hook: the held in-place write of tcp client %llu fails (client gone)",
        (unsigned long long)id);
    req->error = -EIO;
    finishRequest(req);
  }
  for (auto &kv : inflight_) {
    Request *req = kv.first;
    if (!req->stalled || req->tcpClientId != id || req->stalledClientGone) continue;
    req->stalledClientGone = true;
    if (!req->error) req->error = -EIO;  // cut off by the client's death
    if (req->pending == 1) {  // the posted half is done: nothing of the provider's is left
      req->pending = 0;
      doneRequests_.push_back(req);
    }
  }
  for (Request *req : takeRequestsOf(heldWrites_))
    finishRequest(req);  // heldOnce: not held again; its reply goes nowhere
}
#endif

}  // namespace server
}  // namespace ioc
