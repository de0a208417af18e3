// dummy://VALUE: every read fills with one byte, writes are counted and dropped. For tests and
// for measuring the fault path without any storage cost.
#include <string.h>

#include <stdexcept>

#include "storage_driver.h"

namespace ummap {
namespace {

class DummyDriver : public StorageDriver {
 public:
  explicit DummyDriver(uint8_t value) : value_(value) {}
  ssize_t read(void* buf, size_t size, uint64_t) override {
    memset(buf, value_, size);
    return size;
  }
  ssize_t write(const void*, size_t size, uint64_t) override { return size; }
  std::string describe() const override { return "dummy://" + std::to_string(value_); }

 private:
  uint8_t value_;
};

}  // namespace

std::shared_ptr<StorageDriver> createDummyDriver(const DriverParams& params) {
  uint64_t value = parseU64Param(params, "value", 0);
  if (value > 255) throw std::invalid_argument("dummy:// value must be a byte (0-255)");
  return std::make_shared<DummyDriver>(static_cast<uint8_t>(value));
}

}  // namespace ummap
