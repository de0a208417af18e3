// The libfabric clients the server knows: lf client id -> the peer address and the TCP side
// channel (credentials) it connected with. Fabric thread only.
#pragma once

#include <rdma/fabric.h>

#include <cstdint>
#include <map>

namespace ioc {
namespace server {

struct LfClient {
  fi_addr_t addr;
  uint64_t tcpClientId;
};

class ClientTable {
 public:
  using Entry = std::pair<const uint64_t, LfClient>;
  // A new client id (never reused within a run; a refused handshake still uses one up), then
  // the client under it.
  uint64_t takeId() { return nextId_++; }
  void put(uint64_t id, fi_addr_t addr, uint64_t tcpClientId) { clients_[id] = {addr, tcpClientId}; }
  const LfClient *find(uint64_t id) const {
    auto it = clients_.find(id);
    return it == clients_.end() ? nullptr : &it->second;
  }
  // The first client that connected with this TCP client id (nullptr when none).
  const Entry *byTcpClient(uint64_t tcpClientId) const {
    for (auto &kv : clients_)
      if (kv.second.tcpClientId == tcpClientId) return &kv;
    return nullptr;
  }
  // Forget every client of a TCP side channel, or at a peer address; how many went.
  size_t dropTcpClient(uint64_t tcpClientId) {
    return dropIf([&](const LfClient &c) { return c.tcpClientId == tcpClientId; });
  }
  size_t dropPeer(fi_addr_t addr) {
    return dropIf([&](const LfClient &c) { return c.addr == addr; });
  }
  size_t size() const { return clients_.size(); }
  std::map<uint64_t, LfClient>::const_iterator begin() const { return clients_.begin(); }
  std::map<uint64_t, LfClient>::const_iterator end() const { return clients_.end(); }

 private:
  template <class Pred>
  size_t dropIf(Pred pred) {
    size_t n = 0;
    for (auto it = clients_.begin(); it != clients_.end();)
      if (pred(it->second)) {
        it = clients_.erase(it);
        n++;
      } else {
        ++it;
      }
    return n;
  }
  std::map<uint64_t, LfClient> clients_;
  uint64_t nextId_ = 1;
};

}  // namespace server
}  // namespace ioc
