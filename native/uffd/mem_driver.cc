// mem://SIZE: a store in this process's memory. Anonymous stores live as long as their
// mappings; named ones (name=N) are shared by every mapping and thread of the process until
// dropMemStore(N), so that data survives unmap + map again.
#include <string.h>
#include <sys/mman.h>

#include <mutex>
#include <stdexcept>
#include <system_error>

#include "storage_driver.h"

namespace ummap {
namespace {

class MemStore {
 public:
  explicit MemStore(size_t size) : size_(size) {
    // mmap rather than malloc: untouched pages cost nothing and read as zeros.
    void* p = size ? mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) : nullptr;
    if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mem store mmap");
    data_ = static_cast<uint8_t*>(p);
    if (data_) madvise(data_, size_, MADV_DONTFORK);  // a spawn must not make it copy-on-write
  }
  ~MemStore() {
    if (data_) munmap(data_, size_);
  }
  uint8_t* data() { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_;
};

std::mutex namedMutex;
std::map<std::string, std::shared_ptr<MemStore>> namedStores;

class MemDriver : public StorageDriver {
 public:
  MemDriver(std::shared_ptr<MemStore> store, std::string name, bool existed)
      : store_(std::move(store)), name_(std::move(name)), existed_(existed) {}

  ssize_t read(void* buf, size_t size, uint64_t offset) override {
    size_t n = clamp(size, offset);
    if (n) memcpy(buf, store_->data() + offset, n);
    return n;
  }
  ssize_t write(const void* buf, size_t size, uint64_t offset) override {
    if (clamp(size, offset) != size) return -ENOSPC;
    memcpy(store_->data() + offset, buf, size);
    return size;
  }
  const void* directSource(uint64_t offset, size_t size) override {
    return clamp(size, offset) == size ? store_->data() + offset : nullptr;
  }
  bool exists() override { return existed_; }
  std::string describe() const override { return "mem://" + std::to_string(store_->size()) + (name_.empty() ? "" : "?name=" + name_); }

 private:
  size_t clamp(size_t size, uint64_t offset) const {
    if (offset >= store_->size()) return 0;
    return std::min<uint64_t>(size, store_->size() - offset);
  }
  std::shared_ptr<MemStore> store_;
  std::string name_;
  bool existed_;  // a named store that was there before this driver
};

}  // namespace

std::shared_ptr<StorageDriver> createMemDriver(const DriverParams& params) {
  uint64_t size = parseU64Param(params, "size", 0);
  auto it = params.find("name");
  std::string name = it == params.end() ? "" : it->second;
  if (name.empty()) {
    if (size == 0) throw std::invalid_argument("mem:// needs a size");
    return std::make_shared<MemDriver>(std::make_shared<MemStore>(size), "", false);
  }
  std::lock_guard<std::mutex> lock(namedMutex);
  auto& store = namedStores[name];
  bool existed = store != nullptr;
  if (!store) {
    if (size == 0) throw std::invalid_argument("mem:// needs a size");
    store = std::make_shared<MemStore>(size);
  } else if (size > store->size()) {
    throw std::invalid_argument("mem store '" + name + "' exists with a smaller size");
  }
  return std::make_shared<MemDriver>(store, name, existed);
}

bool dropMemStore(const std::string& name) {
  std::lock_guard<std::mutex> lock(namedMutex);
  return namedStores.erase(name) > 0;
}

}  // namespace ummap
