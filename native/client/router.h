// Placement of objects on several cache servers by rendezvous (highest random weight) hashing:
// every client that names the same servers computes the same owner for an object, without
// coordination, and removing a server only moves that server's objects.
//
//   key(server)      = "host:port", exactly as given in the server list (after trimming spaces)
//   fnv1a64(s)       = 64-bit FNV-1a of the key's bytes (offset 0xcbf29ce484222325, prime 0x100000001b3)
//   mix64(x)         = splitmix64's finalizer of x + 0x9e3779b97f4a7c15
//   score(id, s)     = mix64(mix64(fnv1a64(key(s)) ^ uint64(high)) ^ uint64(low))
//
// The owner of object (high, low) is the server with the highest score; the failover order is by
// descending score (ties, which do not happen in practice, by ascending key).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ioc {
namespace client {

struct ServerAddress {
  std::string host;
  std::string port;
  std::string key;    // "host:port"
  uint64_t hash = 0;  // fnv1a64(key)
};

// Parses "host[:port][,host[:port]...]" (entries without a port take defaultPort). Duplicates
// are dropped. Returns false (with a message in error) on an empty entry or a bad port.
bool parseServerList(const std::string &list, const std::string &defaultPort, std::vector<ServerAddress> &out,
                     std::string *error = nullptr);

uint64_t fnv1a64(const std::string &s);
uint64_t mix64(uint64_t x);
uint64_t rendezvousScore(int64_t high, int64_t low, uint64_t serverHash);
// Indices of servers, best first, for object (high, low).
void rendezvousOrder(int64_t high, int64_t low, const std::vector<ServerAddress> &servers, std::vector<size_t> &order);
// Index of the owner of object (high, low) (0 for a single server).
size_t rendezvousOwner(int64_t high, int64_t low, const std::vector<ServerAddress> &servers);

}  // namespace client
}  // namespace ioc
