// Options of the native daemon (the TypeScript CLI validates and passes them on).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ioc {
namespace server {

struct ServerOptions {
  std::string listenIp;
  uint16_t port = 8556;                  // libfabric port; TCP side channel on port+1
  std::string provider;                  // empty: FI_PROVIDER or tcp;ofi_rxm
  std::string storeDir = "./iocatcher-store";
  std::string cephConf;                  // --ceph-conf (empty: $CEPH_CONF or Ceph's default search)
  std::string cephClient = "client.admin";  // --ceph-client: Ceph entity of the rados:// store
  std::vector<std::string> nvdimm;       // pool directories (persistent memory)
  bool auth = true;
  bool consistencyCheck = true;
  bool activePolling = false;
  int verbose = 0;
  size_t segmentSize = 8u << 20;
  uint64_t maxTransfer = 1ull << 32;     // largest single read/write
  uint64_t maxMessage = 36864;           // largest request message (eager data + header; at most 36 KiB)
  uint64_t maxObjectSize = 1ull << 40;   // no byte at or beyond this offset (1 TiB)
  int rmaTimeoutSec = 30;                // an RMA not completed by then fails the request (-ETIMEDOUT)
  int shutdownTimeoutSec = 60;           // SIGTERM: give up writing dirty data to the store after this
  bool writeBehind = true;               // drain dirty segments to the store in the background
  uint64_t cacheSize = 0;                // bytes of cached segments; 0: defaultCacheSize()
  uint64_t prefault = UINT64_MAX;        // cache memory faulted in at start; default min(cacheSize, 1 GiB)
  int highWater = 90, lowWater = 70;     // % of cacheSize: spill/drop above high until low
  int statsInterval = 60;                // seconds between cache figure lines (0: never)
  size_t maxClients = 0;                 // TCP side channels at once; 0: defaultMaxClients()
};

// A quarter of the RAM, at most 64 GiB.
uint64_t defaultCacheSize();

// Clients the descriptor limit allows: each holds a side channel and up to 8 libfabric
// connections; some descriptors stay for store files, pools and the listening sockets.
size_t defaultMaxClients();

// Parses argv; on error prints to stderr and returns false.
bool parseOptions(int argc, char **argv, ServerOptions &out);

}  // namespace server
}  // namespace ioc
