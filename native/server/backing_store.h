// Backing store interface: where cached segments are spilled and flushed to. The embedded
// default is DirectoryStore (one sparse file per object); other stores implement the same calls.
#pragma once

#include <errno.h>
#include <sys/types.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "fabric/protocol.h"

namespace ioc {
namespace server {

using proto::ObjectId;

class BackingStore {
 public:
  virtual ~BackingStore() = default;
  // Each returns 0 (or a byte count) on success, a negative errno on failure.
  virtual int create(const ObjectId &id) = 0;
  virtual bool exists(const ObjectId &id) = 0;
  // Size of the stored object (0 when absent).
  virtual int64_t size(const ObjectId &id) = 0;
  // Reads [offset, offset+len); bytes past the stored end read as zeros.
  virtual ssize_t read(const ObjectId &id, uint64_t offset, void *buf, size_t len) = 0;
  virtual ssize_t write(const ObjectId &id, uint64_t offset, const void *buf, size_t len) = 0;
  // Replace dst with a copy of src (whole object).
  virtual int copy(const ObjectId &src, const ObjectId &dst) = 0;
  // Copy [offset, offset+size) of src over the same range of dst (bytes past src's end copy as
  // zeros). The default goes through read/write in chunks; stores may do better.
  virtual int copyRange(const ObjectId &src, const ObjectId &dst, uint64_t offset, uint64_t size);
  // Make written data durable.
  virtual int sync(const ObjectId &id) = 0;
  virtual int remove(const ObjectId &id) = 0;
  virtual std::string describe() const = 0;
};

inline int BackingStore::copyRange(const ObjectId &src, const ObjectId &dst, uint64_t offset, uint64_t size) {
  if (offset + size < offset) return -EINVAL;
  std::unique_ptr<char[]> buf(new char[1 << 20]);
  for (uint64_t pos = offset; pos < offset + size;) {
    size_t chunk = (size_t)std::min<uint64_t>(1 << 20, offset + size - pos);
    ssize_t r = read(src, pos, buf.get(), chunk);
    if (r < 0) return (int)r;
    ssize_t w = write(dst, pos, buf.get(), chunk);
    if (w < 0) return (int)w;
    pos += chunk;
  }
  return 0;
}

// One sparse file per object under a directory, named HIGH-LOW in 16-digit hex
// (the two int64 halves as unsigned), e.g. 000000000000000a-0000000000000014.
class DirectoryStore : public BackingStore {
 public:
  explicit DirectoryStore(const std::string &dir);
  ~DirectoryStore() override;
  int create(const ObjectId &id) override;
  bool exists(const ObjectId &id) override;
  int64_t size(const ObjectId &id) override;
  ssize_t read(const ObjectId &id, uint64_t offset, void *buf, size_t len) override;
  ssize_t write(const ObjectId &id, uint64_t offset, const void *buf, size_t len) override;
  int copy(const ObjectId &src, const ObjectId &dst) override;
  int copyRange(const ObjectId &src, const ObjectId &dst, uint64_t offset, uint64_t size) override;
  int sync(const ObjectId &id) override;
  int remove(const ObjectId &id) override;
  std::string describe() const override { return "dir://" + dir_; }
  std::string pathOf(const ObjectId &id) const;

 private:
  // Open (and cache) the object's file; -ENOENT when absent and !create.
  int fdOf(const ObjectId &id, bool create);
  std::string dir_;
  std::mutex mu_;
  std::map<ObjectId, int> fds_;
};

}  // namespace server
}  // namespace ioc
