// Test hook IOC_TEST_STORE_GATE=PATH: a store whose data I/O (read, write, sync, copy), removes
// and listings block while the file PATH exists, as a hung NFS mount or an unreachable cluster
// would. Lookups (probe, exists, size) and create pass. Tests use it to show that a hung store
// stalls no other client, and to hold a delete or a listing on its store thread.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "server/backing_store.h"

namespace ioc {
namespace server {

class GatedStore : public BackingStore {
 public:
  GatedStore(std::unique_ptr<BackingStore> inner, std::string gate) : inner_(std::move(inner)), gate_(std::move(gate)) {}
  int create(const ObjectId &id) override { return inner_->create(id); }
  bool exists(const ObjectId &id) override { return inner_->exists(id); }
  int64_t size(const ObjectId &id) override { return inner_->size(id); }
  int probe(const ObjectId &id, int64_t &size) override { return inner_->probe(id, size); }
  ssize_t read(const ObjectId &id, uint64_t offset, void *buf, size_t len) override {
    wait();
    return inner_->read(id, offset, buf, len);
  }
  ssize_t write(const ObjectId &id, uint64_t offset, const void *buf, size_t len) override {
    wait();
    return inner_->write(id, offset, buf, len);
  }
  int copy(const ObjectId &src, const ObjectId &dst) override {
    wait();
    return inner_->copy(src, dst);
  }
  int copyRange(const ObjectId &src, const ObjectId &dst, uint64_t offset, uint64_t size) override {
    wait();
    return inner_->copyRange(src, dst, offset, size);
  }
  int sync(const ObjectId &id) override {
    wait();
    return inner_->sync(id);
  }
  int remove(const ObjectId &id) override {
    wait();
    return inner_->remove(id);
  }
  int list(const std::string &position, bool filterHigh, int64_t high, size_t maxEntries, StorePage &out) override {
    wait();
    return inner_->list(position, filterHigh, high, maxEntries, out);
  }
  void probeAll(std::vector<ProbedObject> &objects) override { inner_->probeAll(objects); }
  std::string describe() const override { return inner_->describe(); }
  int checkWritable() override { return inner_->checkWritable(); }

 private:
  void wait() const {
    struct stat st;
    while (::stat(gate_.c_str(), &st) == 0) usleep(10000);
  }
  std::unique_ptr<BackingStore> inner_;
  std::string gate_;
};

}  // namespace server
}  // namespace ioc
