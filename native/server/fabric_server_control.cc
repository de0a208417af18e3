// FabricServer's reports: the cache figures in the log, and the control channel's answers
// (stats, ls) for the metrics endpoint and the iocatcher admin command.
#include "server/fabric_server.h"

#include "server/log.h"

namespace ioc {
namespace server {

void FabricServer::logCacheStats(bool onlyIfChanged) {
  std::string line = cache_.describeStats();
  if (onlyIfChanged && line == lastCacheStats_) return;
  lastCacheStats_ = line;
  log(LOG_INFO, "stats", "%s", line.c_str());
}

void FabricServer::printStats() {
  double r = (bytesRead_ - lastRead_) / 1e9, w = (bytesWritten_ - lastWritten_) / 1e9;
  lastRead_ = bytesRead_;
  lastWritten_ = bytesWritten_;
  CacheStats s = cache_.stats();
  log(LOG_INFO, "stats", "read %.3f GB/s, write %.3f GB/s, cache %llu MiB (%llu MiB dirty), hits %llu, misses %llu", r, w,
      (unsigned long long)(s.bytes >> 20), (unsigned long long)(s.dirtyBytes >> 20), (unsigned long long)s.hits,
      (unsigned long long)s.misses);
}


// --- control channel (metrics endpoint, iocatcher admin command) ---

std::string FabricServer::control(const std::string &command) {
  return mailbox_.ask(command, [this] { wake(); });
}

std::string FabricServer::controlAnswer(const std::string &command) {
  if (command == "stats") {
    ServerMetrics::Extra x;
    cache_.pruneIdle();  // the object count without entries only waiting to be forgotten
    x.cache = cache_.stats();
    x.tcpClients = tcp_.connectedClients();
    x.fabricClients = clients_.size();
    x.inflight = inflight_.size();
    return metrics_.json(x);
  }
  if (command == "ls") {
    std::string o = "{\"segmentSize\":" + std::to_string(cache_.segmentSize()) + ",\"objects\":[";
    bool first = true;
    for (const auto &obj : cache_.listObjects()) {
      o += std::string(first ? "" : ",") + "{\"high\":\"" + std::to_string(obj.id.high) + "\",\"low\":\"" +
           std::to_string(obj.id.low) + "\",\"size\":" + std::to_string(obj.size) +
           ",\"segments\":" + std::to_string(obj.segments) + ",\"cachedBytes\":" + std::to_string(obj.cachedBytes) +
           ",\"dirtyBytes\":" + std::to_string(obj.dirtyBytes) + "}";
      first = false;
    }
    return o + "]}";
  }
  return "{\"error\":" + jsonString("unknown command '" + command + "' (known: stats, ls)") + "}";
}

}  // namespace server
}  // namespace ioc
