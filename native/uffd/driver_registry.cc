// Scheme name -> driver factory. Add new drivers here.
#include <stdexcept>

#include "storage_driver.h"

namespace ummap {

static const std::map<std::string, DriverFactory>& factories() {
  static const std::map<std::string, DriverFactory> table = {
      {"mem", createMemDriver},
      {"file", createFileDriver},
      {"dummy", createDummyDriver},
      {"ioc", createIocDriver},
  };
  return table;
}

std::shared_ptr<StorageDriver> createDriver(const std::string& scheme, const DriverParams& params) {
  auto it = factories().find(scheme);
  if (it == factories().end()) throw std::invalid_argument("unknown driver scheme '" + scheme + "'");
  return it->second(params);
}

const std::string& requireParam(const DriverParams& params, const char* key) {
  auto it = params.find(key);
  if (it == params.end() || it->second.empty()) throw std::invalid_argument(std::string("missing driver parameter '") + key + "'");
  return it->second;
}

uint64_t parseU64Param(const DriverParams& params, const char* key, uint64_t fallback) {
  auto it = params.find(key);
  if (it == params.end() || it->second.empty()) return fallback;
  size_t used = 0;
  uint64_t value = std::stoull(it->second, &used, 0);
  if (used != it->second.size()) throw std::invalid_argument(std::string("bad number for driver parameter '") + key + "'");
  return value;
}

}  // namespace ummap
