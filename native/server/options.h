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
  std::vector<std::string> nvdimm;       // pool directories (persistent memory)
  bool auth = true;
  bool consistencyCheck = true;
  bool activePolling = false;
  int verbose = 0;
  size_t segmentSize = 8u << 20;
  uint64_t maxTransfer = 1ull << 32;     // largest single read/write
};

// Parses argv; on error prints to stderr and returns false.
bool parseOptions(int argc, char **argv, ServerOptions &out);

}  // namespace server
}  // namespace ioc
