// iocatcher-proto-probe: speaks the wire protocol with deliberate faults, and the object
// namespace messages raw, for tests.
//   iocatcher-proto-probe IP PORT bad-key     -> CREATE with a wrong key; prints "status=<n>"
//   iocatcher-proto-probe IP PORT good-key    -> the same with the right key
//   iocatcher-proto-probe IP PORT ns          -> one connection; reads commands on stdin, one per
//       line, and answers each with one JSON line {"status":N[,"reason":"..."][,...]}:
//         stat HIGH LOW                       -> "stat":{...}
//         delete HIGH LOW
//         list CURSOR|- MAX [HIGH]            -> "page":{"end","fromStore","next","entries":[...]}
//       (MAX 0: the server's page size; HIGH: only objects of that high half). Ids are printed
//       as decimal strings. IOC_PROBE_TIMEOUT_MS sets the call timeout (default 60000).
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>

#include "client/connection.h"

using namespace ioc;
using namespace ioc::proto;

static std::string json(const std::string &s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\', o += c;
    else if ((unsigned char)c < 0x20) o += ' ';
    else o += c;
  }
  return o + "\"";
}

static std::string statJson(const ObjectStat &s) {
  char b[320];
  snprintf(b, sizeof b,
           "{\"high\":\"%lld\",\"low\":\"%lld\",\"size\":%llu,\"storedBytes\":%llu,\"cachedBytes\":%llu,"
           "\"dirtyBytes\":%llu,\"stored\":%s}",
           (long long)s.objectId.high, (long long)s.objectId.low, (unsigned long long)s.size,
           (unsigned long long)s.storedBytes, (unsigned long long)s.cachedBytes, (unsigned long long)s.dirtyBytes,
           s.stored ? "true" : "false");
  return b;
}

// One namespace call: the status, the server's reason, and the reply's inline data.
struct Reply {
  int status = 0;
  std::string reason, data;
};

static Reply call(client::Connection &conn, uint64_t type, uint64_t ackType,
                  const std::function<void(Writer &)> &encode) {
  Reply out;
  out.status = conn.call(type, encode, ackType, [&](uint64_t, Reader &r) {
    Response resp;
    if (!decodeResponse(r, resp, &out.reason)) return -EPROTO;
    if (resp.msgHasData) out.data.assign(resp.data, resp.msgDataSize);
    return resp.status;
  });
  return out;
}

static std::string head(const Reply &r) {
  return "{\"status\":" + std::to_string(r.status) + (r.reason.empty() ? "" : ",\"reason\":" + json(r.reason));
}

static std::string command(client::Connection &conn, const std::string &line) {
  std::istringstream in(line);
  std::string verb;
  in >> verb;
  if (verb == "stat" || verb == "delete") {
    ObjectRequest m;
    if (!(in >> m.objectId.high >> m.objectId.low)) return "{\"status\":-22,\"reason\":\"usage: " + verb + " HIGH LOW\"}";
    bool stat = verb == "stat";
    Reply r = call(conn, stat ? OBJ_STAT : OBJ_DELETE, stat ? OBJ_STAT_ACK : OBJ_DELETE_ACK, [&](Writer &w) { m.encode(w); });
    if (!stat || r.status < 0) return head(r) + "}";
    ObjectStat s;
    Reader rd(r.data.data(), r.data.size());
    if (!decodePayload(rd, s)) return "{\"status\":-71,\"reason\":\"undecodable ObjectStat\"}";
    return head(r) + ",\"stat\":" + statJson(s) + "}";
  }
  if (verb == "list") {
    ListRequest m;
    std::string cursor;
    if (!(in >> cursor >> m.maxEntries)) return "{\"status\":-22,\"reason\":\"usage: list CURSOR|- MAX [HIGH]\"}";
    m.cursor = cursor == "-" ? "" : cursor;
    if (in >> m.high) m.filterHigh = true;
    Reply r = call(conn, OBJ_LIST, OBJ_LIST_ACK, [&](Writer &w) { m.encode(w); });
    if (r.status < 0) return head(r) + "}";
    ListPage p;
    Reader rd(r.data.data(), r.data.size());
    if (!decodePayload(rd, p)) return "{\"status\":-71,\"reason\":\"undecodable ListPage\"}";
    std::string o = head(r) + ",\"page\":{\"end\":" + (p.end ? "true" : "false") +
                    ",\"fromStore\":" + (p.fromStore ? "true" : "false") + ",\"next\":" + json(p.next) + ",\"entries\":[";
    for (size_t i = 0; i < p.entries.size(); i++) o += (i ? "," : "") + statJson(p.entries[i]);
    return o + "]}}";
  }
  return "{\"status\":-22,\"reason\":" + json("unknown command '" + verb + "'") + "}";
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: iocatcher-proto-probe IP PORT bad-key|good-key|ns\n");
    return 2;
  }
  client::ConnectOptions opts;
  opts.ip = argv[1];
  opts.port = argv[2];
  opts.timeoutMs = 5000;
  std::string mode = argv[3];
  try {
    if (mode == "ns") {
      const char *t = getenv("IOC_PROBE_TIMEOUT_MS");
      opts.timeoutMs = t ? (unsigned)atoi(t) : 60000;
      client::Connection conn(opts);
      printf("{\"ready\":true}\n");
      fflush(stdout);
      std::string line;
      while (std::getline(std::cin, line)) {
        if (line.empty()) continue;
        printf("%s\n", command(conn, line).c_str());
        fflush(stdout);
      }
      return 0;
    }
    client::Connection conn(opts);
    if (mode == "bad-key") conn.overrideCredentials(conn.tcpClientId(), conn.tcpClientKey() ^ 0x5a5a5a5a5a5a5a5aull);
    Create m;
    m.objectId.high = 1;
    m.objectId.low = 1;
    int status = conn.call(CREATE, [&](Writer &w) { m.encode(w); }, CREATE_ACK, [](uint64_t, Reader &r) {
      Response resp;
      return decodeResponse(r, resp) ? resp.status : -EPROTO;
    });
    printf("status=%d\n", status);
    return 0;
  } catch (const std::exception &e) {
    fprintf(stderr, "probe: %s\n", e.what());
    return 1;
  }
}
