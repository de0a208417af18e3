// FabricServer's end: transfers still in flight at shutdown. The endpoint must be closed while
// every buffer and memory region an operation may still use is alive: closed later (by
// ~Transport, after the requests, the cache and their MRs were freed), the provider flushed
// those operations into freed memory and the daemon died of SIGSEGV after "stopped" (11 of 26
// SIGTERMs under load).
#include "server/fabric_server.h"
#include "server/log.h"

namespace ioc {
namespace server {

static constexpr auto SHUTDOWN_DRAIN = std::chrono::seconds(2);

void FabricServer::stopTransfers() {
  // Let the RMA ops in flight finish (bounded): their requests end as usual.
  auto deadline = std::chrono::steady_clock::now() + SHUTDOWN_DRAIN;
  while (!inflight_.empty() && std::chrono::steady_clock::now() < deadline) {
    fabric::Completion c[16];
    size_t n = transport_.cq.wait(c, 16, 10);
    for (size_t i = 0; i < n; i++) onCompletion(c[i]);
    while (!doneRequests_.empty()) {
      Request *req = doneRequests_.front();
      doneRequests_.pop_front();
      finishRequest(req);
    }
    pumpSends();
  }
  // No operation may run past this point: nothing writes into the cache or reads our buffers.
  int ret = fi_close(&transport_.ep.get()->fid);
  if (ret) log(LOG_ERROR, "fabric", "fi_close(endpoint): %s", fi_strerror(-ret));
  transport_.ep.release();
  if (inflight_.empty()) return;
  // Requests never completed: their bytes never went into the cache (a staged write), or an
  // in-place write put the stored bytes back; nothing partial gets flushed.
  log(LOG_WARN, "server", "%zu transfers still in flight at shutdown: abandoned (no reply)", inflight_.size());
  for (auto &kv : inflight_) {
    Request &req = *kv.second;
    if (req.cached.empty()) continue;
    if (req.write && req.inPlace) cache_.abandonInPlace(req.cached);
    cache_.release(req.cached);
  }
  inflight_.clear();
  doneRequests_.clear();
}

}  // namespace server
}  // namespace ioc
