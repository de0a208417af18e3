// Opening a Connection: the libfabric endpoint and the CONNECT_INIT / ASSIGN_ID handshake, with
// its retry on a fresh endpoint. The calls over it: connection_call.cc; the completions they
// wait for: connection_replies.cc.
#include "client/connection.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <vector>

#include "common/failpoint.h"

namespace ioc {
namespace client {

using namespace proto;
using Clock = std::chrono::steady_clock;

static std::atomic<uint64_t> g_nextKey{1};  // memory-region keys, unique in the process

// One handshake attempt's share of the connect timeout (the rest goes to the retries).
static constexpr unsigned HANDSHAKE_ATTEMPT_MS = 2000;

bool clientDebug() {
  static const bool on = getenv("IOC_DEBUG") || getenv("IOC_CLIENT_DEBUG");
  return on;
}

void applyProviderDefaults() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char *vars[] = {"FI_OFI_RXM_MSG_RX_SIZE", "FI_OFI_RXM_RX_SIZE"};
    std::vector<const char *> set;
    for (const char *v : vars)
      if (!getenv(v) && setenv(v, "32", 0) == 0) set.push_back(v);
    fi_info *info = nullptr;  // any query initialises libfabric and its providers, which read them
    if (fi_getinfo(FI_VERSION(1, 11), nullptr, nullptr, 0, nullptr, &info) == 0) fi_freeinfo(info);
    for (const char *v : set) unsetenv(v);
  });
}

void Connection::debug(const char *fmt, ...) const {
  if (!clientDebug()) return;
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  fprintf(stderr, "iocatcher-client: %s:%s: %s\n", opts_.ip.c_str(), opts_.port.c_str(), line);
}

Connection::Connection(const ConnectOptions &opts, std::shared_ptr<SideChannel> side)
    : opts_(opts), side_(std::move(side)) {
  applyProviderDefaults();
  if (!side_) side_ = std::make_shared<SideChannel>(opts_);
  tcp_ = side_->credentials();
  // tcp;ofi_rxm may lose an ASSIGN_ID the server sent while it accepted other connections; a
  // fresh endpoint then connects at once. So an attempt without an answer within
  // HANDSHAKE_ATTEMPT_MS is retried on a new endpoint, until the connect deadline. The server
  // keeps the lost attempt's id until our TCP side channel closes.
  auto deadline = connectDeadline(opts_);
  unsigned saved = opts_.timeoutMs;
  std::string failure;
  int ret = -ETIMEDOUT;
  for (int attempt = 1;; attempt++) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    bool last = left <= (long)HANDSHAKE_ATTEMPT_MS * 3 / 2;
    opts_.timeoutMs = (unsigned)std::max<long>(1, last ? left : HANDSHAKE_ATTEMPT_MS);
    std::vector<char> name;
    try {
      openEndpoint();
      name = transport_->ep.name();
    } catch (const fabric::FabricError &e) {
      closeEndpoint();
      throw ConnectError(ENETUNREACH, e.what());
    }
    ret = handshake(name);
    if (ret == 0) break;
    failure = handshakeState(name);
    closeEndpoint();
    if (ret != -ETIMEDOUT || last) break;
    debug("no ASSIGN_ID within %u ms (attempt %d: %s); retrying on a new endpoint", opts_.timeoutMs, attempt,
          failure.c_str());
  }
  opts_.timeoutMs = saved;
  if (ret < 0) {
    throw ConnectError(-ret, std::string("connection handshake failed: ") + strerror(-ret) + " (" + failure + ")");
  }
}

Connection::~Connection() { closeEndpoint(); }

// A fresh libfabric endpoint towards the server, with our receive buffers posted.
void Connection::openEndpoint() {
  fabric::Options fo;
  fo.provider = opts_.provider;
  fo.node = opts_.ip;
  fo.service = opts_.port;
  transport_.reset(new fabric::Transport(fo, 64));
  providerName_ = transport_->info.providerName();
  server_ = transport_->av.insert(transport_->info->dest_addr);
  size_t total = (RECV_SLOTS + 1) * MSG_BUFFER_SIZE;
  if (!buffers_) buffers_.reset(new char[total]);
  if (transport_->needsLocalMr()) {
    buffersMr_ = fabric::MemoryRegion(transport_->domain, transport_->info, buffers_.get(), total,
                                      FI_SEND | FI_RECV, g_nextKey++);
    desc_ = buffersMr_.desc();
  }
  broken_ = false;
  sendBusy_ = false;
  pending_.clear();
  lastError_.clear();
  for (size_t i = 0; i < RECV_SLOTS; i++) {
    recv_[i].buf = buffers_.get() + i * MSG_BUFFER_SIZE;
    repost(recv_[i].buf);
  }
  send_.buf = buffers_.get() + RECV_SLOTS * MSG_BUFFER_SIZE;
}

void Connection::closeEndpoint() {
  buffersMr_ = fabric::MemoryRegion();
  desc_ = nullptr;
  transport_.reset();
}

// CONNECT_INIT with our address; 0 once ASSIGN_ID gave us our client id.
int Connection::handshake(const std::vector<char> &name) {
  FirstClientMessage first;
  first.addrLen = std::max(name.size(), FirstClientMessage::ORIGINAL_ADDR_SIZE);
  if (name.size() > CLIENT_ADDR_MAX) return -EINVAL;
  memcpy(first.addr, name.data(), name.size());
  return call(
      CONNECT_INIT, [&](Writer &w) { first.encode(w); }, ASSIGN_ID,
      [&](uint64_t, Reader &r) {
        FirstHandshake fh;
        if (!fh.decode(r)) return -EPROTO;  // later fields a newer server may add are ignored
        if (fh.protocolVersion != PROTOCOL_VERSION) return -EPROTONOSUPPORT;
        lfClientId_ = fh.assignLfClientId;
        serverEpoch_ = fh.hasServerInfo ? fh.serverEpoch : 0;
        serverDurable_ = fh.hasServerInfo && fh.durableWrites;
        errnoStatuses_ = fh.hasServerInfo;
        features_ = fh.hasServerInfo ? fh.features : 0;
        // The server stamped its clock before sending: at this moment its clock reads at least
        // that stamp, so stamp - our clock now is a lower bound of the difference.
        fencing_ = fh.hasServerInfo && fh.fencing && !IOC_FAILPOINT(client_no_fencing);
        leadTakenAt_ = Clock::now();
        serverLeadNs_ = fh.serverClockNs -
                        std::chrono::duration_cast<std::chrono::nanoseconds>(leadTakenAt_.time_since_epoch()).count();
        return 0;
      });
}

// Where a handshake that failed got to, for the error message: whether our CONNECT_INIT left,
// and with clientDebug() the kernel's view of the TCP connections between the provider's
// endpoints (both ends are on this host when the server is on loopback).
std::string Connection::handshakeState(const std::vector<char> &ourName) const {
  std::string out = lastError_.empty() ? "" : lastError_ + "; ";
  out += sendRetries_ && !sendBusy_ && !sendPosted_ ? "our CONNECT_INIT could not be posted"
         : sendBusy_                                 ? "our CONNECT_INIT was posted, its send did not complete"
                                                     : "our CONNECT_INIT was sent, no ASSIGN_ID came back";
  if (sendRetries_) out += " (fi_send said EAGAIN " + std::to_string(sendRetries_) + " times)";
  if (!clientDebug() || ourName.size() < sizeof(sockaddr_in)) return out;
  sockaddr_in ours;
  memcpy(&ours, ourName.data(), sizeof ours);
  unsigned ourPort = ntohs(ours.sin_port), serverPort = (unsigned)atoi(opts_.port.c_str());
  static const char *states[] = {"?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT",
                                 "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING"};
  FILE *f = fopen("/proc/net/tcp", "r");
  if (!f) return out;
  char line[512];
  out += "; tcp sockets of ports " + std::to_string(ourPort) + " (ours) and " + std::to_string(serverPort) + ":";
  while (fgets(line, sizeof line, f)) {
    unsigned la, lp, ra, rp, st, tx, rx;
    if (sscanf(line, " %*d: %8X:%4X %8X:%4X %2X %8X:%8X", &la, &lp, &ra, &rp, &st, &tx, &rx) != 7) continue;
    if (lp != ourPort && rp != ourPort && lp != serverPort && rp != serverPort) continue;
    out += " [" + std::to_string(lp) + "->" + std::to_string(rp) + " " + (st < 12 ? states[st] : "?") +
           " tx " + std::to_string(tx) + " rx " + std::to_string(rx) + "]";
  }
  fclose(f);
  return out;
}

bool Connection::serverGone() { return side_->gone(); }

fabric::MemoryRegion Connection::registerBuffer(void *buf, size_t len, Iov &iov) {
  bulkCall_ = len > (64u << 10);  // the next call moves it
  fabric::MemoryRegion mr(transport_->domain, transport_->info, buf, len,
                          FI_REMOTE_READ | FI_REMOTE_WRITE | FI_READ | FI_WRITE, g_nextKey++);
  iov.addr = mr.remoteAddr();
  iov.key = mr.key();
  return mr;
}

}  // namespace client
}  // namespace ioc
