// Server counters for the metrics endpoint (iocatcher-server --metrics): requests by message
// type, latency histograms, eager/RMA transfers, bytes, error replies and dropped messages.
// Owned by the fabric thread (no locking); snapshots are rendered as JSON on that thread and
// handed to the control thread (see FabricServer::control).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "server/segment_cache.h"

namespace ioc {
namespace server {

class ServerMetrics {
 public:
  // Upper bounds (seconds) of the latency buckets; one more bucket counts everything above.
  static const std::vector<double> &latencyBounds();

  void request(uint64_t msgType) { perType(msgType).requests++; }
  // Time from handling a request to queuing its reply (to RMA completion for RMA transfers).
  void latency(uint64_t msgType, std::chrono::steady_clock::duration d);
  // A completed read (write=false) or write of `bytes`, eager (inline) or by RMA.
  void transfer(bool write, bool rma, uint64_t bytes);
  // A reply carrying a negative status.
  void errorReply(uint64_t ackType, int status) { errors_[{ackType, status}]++; }
  // A message dropped without a reply (truncated, malformed, unknown sender).
  void dropped() { drops_++; }
  // A write discarded because its deadline (RequestDeadline) passed before it could be applied.
  void fenced() { fenced_++; }

  struct Extra {
    CacheStats cache;
    size_t tcpClients = 0, fabricClients = 0, inflight = 0;
  };
  std::string json(const Extra &extra) const;

 private:
  struct PerType {
    uint64_t requests = 0, count = 0;
    double sum = 0;
    std::vector<uint64_t> buckets;  // not cumulative; last: above every bound
  };
  PerType &perType(uint64_t msgType);
  std::map<uint64_t, PerType> types_;
  uint64_t transfers_[2][2] = {{0, 0}, {0, 0}};  // [rma][write]
  uint64_t bytes_[2] = {0, 0};                   // [write]
  std::map<std::pair<uint64_t, int>, uint64_t> errors_;
  uint64_t drops_ = 0;
  uint64_t fenced_ = 0;
};

// JSON string literal (quotes included).
std::string jsonString(const std::string &s);

}  // namespace server
}  // namespace ioc
