// Backing store on a Ceph RADOS pool (librados, C API): one RADOS object per iocatcher object,
// named "ioc.<HIGH>.<LOW>" with both int64 halves as 16 lowercase hex digits (as unsigned), e.g.
// object (10, 20) is "ioc.000000000000000a.0000000000000014". Built only when librados is found
// (IOC_HAVE_RADOS).
//
// Data moves with librados' asynchronous calls: a read or write is split into chunks that are all
// in flight at once, and writes are write-behind (the data is copied and the call returns while
// RADOS stores it, up to a bounded window), so that a flush of many dirty segments keeps several
// RADOS writes in flight. sync() waits for the object's outstanding writes, then rados_aio_flush,
// and reports any asynchronous write error of that object. A read or stat of an object first waits
// for that object's outstanding writes, so a read always sees earlier writes.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "server/backing_store.h"

namespace ioc {
namespace server {

struct RadosConfig {
  std::string pool;
  std::string confFile;                     // empty: $CEPH_CONF or Ceph's default search path
  std::string clientName = "client.admin";  // Ceph entity name (client.NAME)
  size_t chunk = 4u << 20;                  // bytes per librados operation
  size_t writeWindow = 64u << 20;           // write-behind bytes in flight at most
};

class RadosStore : public BackingStore {
 public:
  // Connects to the cluster and opens the pool; throws std::runtime_error with a clear message.
  explicit RadosStore(const RadosConfig &cfg);
  ~RadosStore() override;
  int create(const ObjectId &id) override;
  bool exists(const ObjectId &id) override;
  int64_t size(const ObjectId &id) override;
  int probe(const ObjectId &id, int64_t &size) override;
  ssize_t read(const ObjectId &id, uint64_t offset, void *buf, size_t len) override;
  ssize_t write(const ObjectId &id, uint64_t offset, const void *buf, size_t len) override;
  int copy(const ObjectId &src, const ObjectId &dst) override;
  int copyRange(const ObjectId &src, const ObjectId &dst, uint64_t offset, uint64_t size) override;
  int sync(const ObjectId &id) override;
  int remove(const ObjectId &id) override;
  // The pool's objects named ioc.HIGH.LOW, in librados' listing order; the position is a
  // placement-hash position (rados_store_list.cc says why and how).
  int list(const std::string &position, bool filterHigh, int64_t high, size_t maxEntries, StorePage &out) override;
  // Every object's stat in flight at once.
  void probeAll(std::vector<ProbedObject> &objects) override;
  std::string describe() const override;
  // Writes, then removes, the probe object "ioc-write-check.HOST.PID" (objects are
  // "ioc.HIGH.LOW": the names never collide).
  int checkWritable() override;
  static std::string objectName(const ObjectId &id);

 private:
  struct Pending;
  // Wait for the outstanding writes of id (or of every object when id is null); returns the first
  // error recorded for id (and forgets it), 0 otherwise.
  int drain(const ObjectId *id);
  void complete(std::list<Pending>::iterator it);  // mu_ held
  int takeError(const ObjectId &id);               // mu_ held
  // Copy [offset, offset+len) of src to dst, several chunks in flight; zerosPastEnd: bytes past
  // src's end are written as zeros, else only the bytes src holds are copied.
  int copyBytes(const std::string &src, const std::string &dst, uint64_t offset, uint64_t len, bool zerosPastEnd);
  int stat(const std::string &name, uint64_t *size);
  void statAll(std::vector<ProbedObject> &objects);
  int note(int err, const char *what, const std::string &name);

  RadosConfig cfg_;
  void *cluster_ = nullptr;  // rados_t
  void *io_ = nullptr;       // rados_ioctx_t
  std::mutex mu_;
  std::list<Pending> pending_;        // write-behind operations, oldest first
  size_t pendingBytes_ = 0;
  std::map<ObjectId, int> errors_;    // first failed asynchronous write per object
  std::set<ObjectId> known_;          // objects known to exist (created or written by us)
};

}  // namespace server
}  // namespace ioc
