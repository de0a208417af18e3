#include "client/router.h"

#include <algorithm>
#include <cstdlib>

namespace ioc {
namespace client {

static std::string trim(const std::string &s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

static bool validPort(const std::string &p) {
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) return false;
  long v = strtol(p.c_str(), nullptr, 10);
  return v >= 1 && v <= 65535;
}

bool parseServerList(const std::string &list, const std::string &defaultPort, std::vector<ServerAddress> &out,
                     std::string *error) {
  out.clear();
  size_t pos = 0;
  for (;;) {
    size_t comma = list.find(',', pos);
    std::string entry = trim(list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    ServerAddress a;
    size_t colon = entry.rfind(':');
    if (!entry.empty() && entry[0] == '[') {  // [v6-address]:port or [v6-address]
      size_t close = entry.find(']');
      colon = close != std::string::npos && close + 1 < entry.size() && entry[close + 1] == ':' ? close + 1 : std::string::npos;
      if (close != std::string::npos) entry = entry.substr(1, close - 1) + entry.substr(close + 1);
      if (colon != std::string::npos) colon -= 2;
    } else if (colon != std::string::npos && entry.find(':') != colon) {
      colon = std::string::npos;  // a bare IPv6 address: no port
    }
    if (colon == std::string::npos) {
      a.host = entry;
      a.port = defaultPort;
    } else {
      a.host = trim(entry.substr(0, colon));
      a.port = trim(entry.substr(colon + 1));
    }
    if (a.host.empty()) {
      if (error) *error = "empty server entry in '" + list + "'";
      return false;
    }
    if (!validPort(a.port)) {
      if (error) *error = "bad port '" + a.port + "' in server list '" + list + "'";
      return false;
    }
    a.key = a.host + ":" + a.port;
    a.hash = fnv1a64(a.key);
    bool dup = false;
    for (const auto &o : out) dup = dup || o.key == a.key;
    if (!dup) out.push_back(a);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return !out.empty();
}

uint64_t fnv1a64(const std::string &s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char ch : s) {
    h ^= ch;
    h *= 0x100000001b3ull;
  }
  return h;
}

uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t rendezvousScore(int64_t high, int64_t low, uint64_t serverHash) {
  return mix64(mix64(serverHash ^ (uint64_t)high) ^ (uint64_t)low);
}

void rendezvousOrder(int64_t high, int64_t low, const std::vector<ServerAddress> &servers, std::vector<size_t> &order) {
  std::vector<std::pair<uint64_t, size_t>> scored;
  scored.reserve(servers.size());
  for (size_t i = 0; i < servers.size(); i++) scored.emplace_back(rendezvousScore(high, low, servers[i].hash), i);
  std::sort(scored.begin(), scored.end(), [&](const std::pair<uint64_t, size_t> &a, const std::pair<uint64_t, size_t> &b) {
    if (a.first != b.first) return a.first > b.first;
    return servers[a.second].key < servers[b.second].key;
  });
  order.clear();
  for (const auto &s : scored) order.push_back(s.second);
}

size_t rendezvousOwner(int64_t high, int64_t low, const std::vector<ServerAddress> &servers) {
  size_t best = 0;
  for (size_t i = 1; i < servers.size(); i++) {
    uint64_t a = rendezvousScore(high, low, servers[i].hash), b = rendezvousScore(high, low, servers[best].hash);
    if (a > b || (a == b && servers[i].key < servers[best].key)) best = i;
  }
  return best;
}

}  // namespace client
}  // namespace ioc
