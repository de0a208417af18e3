// Options of the native daemon (the TypeScript CLI validates and passes them on). What each
// option takes and its default are in the option table (src/server/options-table.ts), from
// which options_table.h is generated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/options_table.h"

namespace ioc {
namespace server {

struct ServerOptions {
  std::string listenIp;
  uint16_t port = optiontable::kDefaultPort;  // libfabric port; TCP side channel on port+1
  std::string provider;                  // empty: FI_PROVIDER or tcp;ofi_rxm
  std::string storeDir = optiontable::kDefaultStore;
  std::string cephConf;                  // --ceph-conf (empty: $CEPH_CONF or Ceph's default search)
  std::string cephClient = optiontable::kDefaultCephClient;  // Ceph entity of the rados:// store
  std::vector<std::string> nvdimm;       // pool directories (persistent memory)
  bool auth = true;
  bool consistencyCheck = true;
  bool activePolling = false;
  int verbose = 0;
  size_t segmentSize = optiontable::kDefaultSegmentSize;
  uint64_t maxTransfer = optiontable::kDefaultMaxTransfer;      // largest single read/write
  uint64_t maxMessage = optiontable::kDefaultMaxMessage;        // largest request message (eager data + header)
  uint64_t maxObjectSize = optiontable::kDefaultMaxObjectSize;  // no byte at or beyond this offset
  int slowStoreWarningSec = optiontable::kDefaultSlowStoreWarning;  // a store job running this long is logged (0: never)
  int rmaTimeoutSec = optiontable::kDefaultRmaTimeout;  // an RMA not completed by then fails the request (-ETIMEDOUT)
  int shutdownTimeoutSec = optiontable::kDefaultShutdownTimeout;  // SIGTERM: give up writing dirty data after this
  bool writeBehind = std::string_view(optiontable::kDefaultWriteBehind) == "on";  // drain dirty segments in the background
  uint64_t cacheSize = 0;                // bytes of cached segments; 0: defaultCacheSize()
  uint64_t prefault = UINT64_MAX;        // cache memory faulted in at start; default min(cacheSize, 1 GiB)
  int highWater = optiontable::kDefaultHighWater;  // % of cacheSize: spill/drop above high until low
  int lowWater = optiontable::kDefaultLowWater;
  int statsInterval = optiontable::kDefaultStatsInterval;  // seconds between cache figure lines (0: never)
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
