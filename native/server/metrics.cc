#include "server/metrics.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/failpoint.h"
#include "fabric/protocol.h"

namespace ioc {
namespace server {

const std::vector<double> &ServerMetrics::latencyBounds() {
  static const std::vector<double> b{0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                     0.01,    0.025,    0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,    10};
  return b;
}

ServerMetrics::PerType &ServerMetrics::perType(uint64_t msgType) {
  // Unknown types share one entry: a client sending garbage cannot grow the table.
  if (strcmp(proto::msgTypeName(msgType), "UNKNOWN") == 0) msgType = UINT64_MAX;
  PerType &t = types_[msgType];
  if (t.buckets.empty()) t.buckets.assign(latencyBounds().size() + 1, 0);
  return t;
}

void ServerMetrics::latency(uint64_t msgType, std::chrono::steady_clock::duration d) {
  double s = std::chrono::duration<double>(d).count();
  PerType &t = perType(msgType);
  const auto &b = latencyBounds();
  size_t i = 0;
  while (i < b.size() && s > b[i]) i++;
  t.buckets[i]++;
  t.count++;
  t.sum += s;
}

void ServerMetrics::transfer(bool write, bool rma, uint64_t bytes) {
  // Failpoint server.write_committed: after(K+1):kill SIGKILLs the daemon when write K+1 is
  // committed, before its ack: a writer that waits for each ack had exactly K acknowledged (a
  // crash at a chosen point of a write-back; test/integrity-ummap.test.ts).
  if (write) IOC_FAILPOINT(server_write_committed);
  transfers_[rma][write]++;
  bytes_[write] += bytes;
}

std::string jsonString(const std::string &s) {
  std::string out = "\"";
  for (char ch : s) {
    unsigned char c = (unsigned char)ch;
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

static std::string typeName(uint64_t t) { return t == UINT64_MAX ? "UNKNOWN" : proto::msgTypeName(t); }

static std::string errnoName(int status) {
  int e = -status;
  if (status == -1) return "EPERM";  // BAD_AUTH carries -1
  const char *n = e > 0 ? strerrorname_np(e) : nullptr;
  return n ? n : "E" + std::to_string(e);
}

std::string ServerMetrics::json(const Extra &x) const {
  auto u = [](uint64_t v) { return std::to_string(v); };
  std::string o = "{\"requests\":{";
  bool first = true;
  for (auto &kv : types_) {
    if (!kv.second.requests) continue;
    o += (first ? "" : ",") + jsonString(typeName(kv.first)) + ":" + u(kv.second.requests);
    first = false;
  }
  o += "},\"latency\":{\"bounds\":[";
  const auto &b = latencyBounds();
  char num[64];
  for (size_t i = 0; i < b.size(); i++) {
    snprintf(num, sizeof num, "%g", b[i]);
    o += (i ? "," : "") + std::string(num);
  }
  o += "],\"types\":{";
  first = true;
  for (auto &kv : types_) {
    if (!kv.second.count) continue;
    o += (first ? "" : ",") + jsonString(typeName(kv.first)) + ":{\"buckets\":[";
    first = false;
    for (size_t i = 0; i < kv.second.buckets.size(); i++) o += (i ? "," : "") + u(kv.second.buckets[i]);
    snprintf(num, sizeof num, "%.9g", kv.second.sum);
    o += "],\"sum\":" + std::string(num) + ",\"count\":" + u(kv.second.count) + "}";
  }
  o += "}},\"transfers\":{\"eager\":{\"read\":" + u(transfers_[0][0]) + ",\"write\":" + u(transfers_[0][1]) +
       "},\"rma\":{\"read\":" + u(transfers_[1][0]) + ",\"write\":" + u(transfers_[1][1]) + "}}";
  o += ",\"bytes\":{\"read\":" + u(bytes_[0]) + ",\"written\":" + u(bytes_[1]) + "}";
  o += ",\"errors\":[";
  first = true;
  for (auto &kv : errors_) {
    o += std::string(first ? "" : ",") + "{\"type\":" + jsonString(typeName(kv.first.first)) +
         ",\"code\":" + jsonString(errnoName(kv.first.second)) + ",\"count\":" + u(kv.second) + "}";
    first = false;
  }
  o += "],\"drops\":" + u(drops_) + ",\"fencedWrites\":" + u(fenced_);
  o += ",\"clients\":{\"tcp\":" + u(x.tcpClients) + ",\"fabric\":" + u(x.fabricClients) + "}";
  o += ",\"inflight\":" + u(x.inflight);
  const CacheStats &c = x.cache;
  o += ",\"cache\":{\"segments\":" + u(c.segments) + ",\"bytes\":" + u(c.bytes) + ",\"dirtyBytes\":" + u(c.dirtyBytes) +
       ",\"pinned\":" + u(c.pinned) + ",\"hits\":" + u(c.hits) + ",\"misses\":" + u(c.misses) +
       ",\"flushedBytes\":" + u(c.flushedBytes) + ",\"spilledBytes\":" + u(c.spilledBytes) +
       ",\"drainedBytes\":" + u(c.drainedBytes) + ",\"writtenThroughBytes\":" + u(c.writtenThroughBytes) + ",\"storeJobs\":" + u(c.storeJobs) +
       ",\"refusedWrites\":" + u(c.refusedWrites) +
       ",\"evictions\":" + u(c.evictions) + ",\"limitBytes\":" + u(c.limitBytes) +
       ",\"objects\":" + u(c.objects) + "}}";
  return o;
}

}  // namespace server
}  // namespace ioc
