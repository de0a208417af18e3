// Failpoint store.data_io, test builds only: a store whose data I/O (read, write, sync, copy),
// removes and listings evaluate the failpoint first. pause(PATH) blocks them while the file PATH
// exists, as a hung NFS mount or an unreachable cluster would (tests show that a hung store stalls
// no other client, and hold a delete or a listing on its store thread); error(E) fails them with
// -E. Lookups (probe, exists, size) and create pass.
#pragma once
#ifdef IOC_FAILPOINTS_ENABLED

#include <memory>
#include <string>

#include "common/failpoint.h"
#include "server/backing_store.h"

namespace ioc {
namespace server {

class GatedStore : public BackingStore {
 public:
  explicit GatedStore(std::unique_ptr<BackingStore> inner) : inner_(std::move(inner)) {}
  int create(const ObjectId &id) override { return inner_->create(id); }
  bool exists(const ObjectId &id) override { return inner_->exists(id); }
  int64_t size(const ObjectId &id) override { return inner_->size(id); }
  int probe(const ObjectId &id, int64_t &size) override { return inner_->probe(id, size); }
  ssize_t read(const ObjectId &id, uint64_t offset, void *buf, size_t len) override {
    if (int e = gate()) return e;
    return inner_->read(id, offset, buf, len);
  }
  ssize_t write(const ObjectId &id, uint64_t offset, const void *buf, size_t len) override {
    if (int e = gate()) return e;
    return inner_->write(id, offset, buf, len);
  }
  int copy(const ObjectId &src, const ObjectId &dst) override {
    if (int e = gate()) return e;
    return inner_->copy(src, dst);
  }
  int copyRange(const ObjectId &src, const ObjectId &dst, uint64_t offset, uint64_t size) override {
    if (int e = gate()) return e;
    return inner_->copyRange(src, dst, offset, size);
  }
  int sync(const ObjectId &id) override {
    if (int e = gate()) return e;
    return inner_->sync(id);
  }
  int remove(const ObjectId &id) override {
    if (int e = gate()) return e;
    return inner_->remove(id);
  }
  int list(const std::string &position, bool filterHigh, int64_t high, size_t maxEntries, StorePage &out) override {
    if (int e = gate()) return e;
    return inner_->list(position, filterHigh, high, maxEntries, out);
  }
  void probeAll(std::vector<ProbedObject> &objects) override { inner_->probeAll(objects); }
  std::string describe() const override { return inner_->describe(); }
  int checkWritable() override { return inner_->checkWritable(); }

 private:
  static int gate() { return (int)IOC_FAILPOINT(store_data_io).value; }  // blocks (pause), or -E
  std::unique_ptr<BackingStore> inner_;
};

}  // namespace server
}  // namespace ioc

#endif  // IOC_FAILPOINTS_ENABLED
