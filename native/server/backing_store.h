// Backing store interface: where cached segments are spilled and flushed to. The embedded
// default is DirectoryStore (one sparse file per object); other stores implement the same calls.
#pragma once

#include <errno.h>
#include <sys/types.h>

#include <algorithm>
#include <cstdio>
#include <cstdint>
#include <atomic>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "fabric/protocol.h"

namespace ioc {
namespace server {

using proto::ObjectId;

// One object of a store listing.
struct StoredObject {
  ObjectId id;
  int64_t size = 0;
};

// A page of a store listing (BackingStore::list).
struct StorePage {
  std::vector<StoredObject> objects;
  bool end = false;  // the listing is complete
  std::string next;  // where the next page starts (when !end): printable, at most LIST_POSITION_MAX
};

// BackingStore::probeAll: one object's answer (found: as probe() returns it).
struct ProbedObject {
  ObjectId id;
  int found = 0;
  int64_t size = 0;
};

class BackingStore {
 public:
  virtual ~BackingStore() = default;
  // Each returns 0 (or a byte count) on success, a negative errno on failure.
  virtual int create(const ObjectId &id) = 0;
  virtual bool exists(const ObjectId &id) = 0;
  // Size of the stored object (0 when absent).
  virtual int64_t size(const ObjectId &id) = 0;
  // Whether the object is stored, and its size: 1 (stored), 0 (absent, size 0) or a negative
  // errno when the store cannot tell (never to be taken for an absent object: it would read as
  // zeros). The default trusts exists() and size().
  virtual int probe(const ObjectId &id, int64_t &size);
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
  // Remove the object, durably once it returns (an absent object is not an error).
  virtual int remove(const ObjectId &id) = 0;
  // A page of the store's objects, in the store's own order: at most maxEntries, from the
  // position a previous page returned (empty: the start), only those whose high half is `high`
  // when filterHigh; names that are not objects' are skipped. The position stays valid while
  // objects are created and removed: every object stored for the whole listing is listed once
  // (objects created or removed meanwhile may or may not be). A page may hold fewer objects than
  // asked (a store bounds the work of one call), even none, without being the last. Memory is
  // bounded by the page. 0, -EINVAL for a position the store never returned, or a negative errno.
  static constexpr size_t LIST_POSITION_MAX = 1000;
  virtual int list(const std::string &position, bool filterHigh, int64_t high, size_t maxEntries,
                   StorePage &out) = 0;
  // probe() of each object (a store may overlap them).
  virtual void probeAll(std::vector<ProbedObject> &objects);
  virtual std::string describe() const = 0;
  // The start-up check: create, write, sync and remove a probe object whose name no object can
  // have. 0, or a negative errno (the store cannot take a write: the server refuses to start).
  virtual int checkWritable() = 0;
};

// A store the server cannot use at all (it refuses to start, exit code 2): the message names the
// store and the error, e.g. "store /srv/ioc cannot be written: Permission denied".
class StoreUnusable : public std::runtime_error {
 public:
  StoreUnusable(const std::string &store, const std::string &why)
      : std::runtime_error("store " + store + " cannot be written: " + why) {}
};

// How logs name an object: HIGH-LOW as 16 hex digits each (the two int64 halves as unsigned; the
// directory store's file name), then HIGH:LOW in decimal as the iocatcher CLI takes it, e.g.
// "0000000000000083-0000000000000007 (131:7)".
inline std::string objectLabel(const ObjectId &id) {
  char s[96];
  snprintf(s, sizeof s, "%016llx-%016llx (%lld:%lld)", (unsigned long long)id.high, (unsigned long long)id.low,
           (long long)id.high, (long long)id.low);
  return s;
}

inline int BackingStore::probe(const ObjectId &id, int64_t &size) {
  size = 0;
  if (!exists(id)) return 0;
  size = this->size(id);
  return 1;
}

inline void BackingStore::probeAll(std::vector<ProbedObject> &objects) {
  for (ProbedObject &o : objects) o.found = probe(o.id, o.size);
}

// Object names of the stores hold the two int64 halves as 16 lowercase hex digits each (as
// unsigned): parseHex16 reads 16 such digits at p (false when they are not).
inline bool parseHex16(const char *p, int64_t &out) {
  uint64_t v = 0;
  for (int i = 0; i < 16; i++) {
    char c = p[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return false;
    v = v << 4 | (uint64_t)d;
  }
  out = (int64_t)v;
  return true;
}

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
// Open files are cached, at most maxOpen() of them (least recently used closed first), so that
// any number of objects fits in the process's file descriptor limit with room for clients.
// A whole-object copy is written to a temporary file (TEMP_PREFIX...) and renamed over the
// destination: a crash leaves the destination either old or new, never partial; temporaries
// left by a crash are removed at start.
// The constructor creates the directory if needed; it throws StoreUnusable when it cannot, or
// when the path is not a directory.
class DirectoryStore : public BackingStore {
 public:
  static constexpr const char *TEMP_PREFIX = ".cow-";
  // maxOpen 0: defaultMaxOpen().
  explicit DirectoryStore(const std::string &dir, size_t maxOpen = 0);
  // A quarter of the soft RLIMIT_NOFILE, between 4 and 4096.
  static size_t defaultMaxOpen();
  ~DirectoryStore() override;
  int create(const ObjectId &id) override;
  bool exists(const ObjectId &id) override;
  int64_t size(const ObjectId &id) override;
  int probe(const ObjectId &id, int64_t &size) override;
  ssize_t read(const ObjectId &id, uint64_t offset, void *buf, size_t len) override;
  ssize_t write(const ObjectId &id, uint64_t offset, const void *buf, size_t len) override;
  int copy(const ObjectId &src, const ObjectId &dst) override;
  int copyRange(const ObjectId &src, const ObjectId &dst, uint64_t offset, uint64_t size) override;
  int sync(const ObjectId &id) override;
  // unlink, then fsync of the directory.
  int remove(const ObjectId &id) override;
  // readdir order; the position is a readdir position (telldir), in hex. It relies on the
  // filesystem's directory positions staying valid across opendir calls and across creates and
  // removes of other entries: hash positions on ext4 (dir_index, which also covers one-block
  // directories), directory offsets on XFS, index numbers on btrfs, stable offsets on tmpfs
  // since Linux 6.6. Names other than HIGH-LOW (temporaries, probes) are skipped.
  int list(const std::string &position, bool filterHigh, int64_t high, size_t maxEntries, StorePage &out) override;
  // stat() by name: a listing's lookups leave the open-file cache to the objects in use.
  void probeAll(std::vector<ProbedObject> &objects) override;
  std::string describe() const override { return "dir://" + dir_; }
  // A hidden probe file (PROBE_PREFIX...: never an object's HIGH-LOW name) in the directory.
  int checkWritable() override;
  static constexpr const char *PROBE_PREFIX = ".ioc-write-check-";
  std::string pathOf(const ObjectId &id) const;
  size_t maxOpen() const { return maxOpen_; }

 private:
  // An open object file, closed when its last holder lets go: the cache may drop it while a
  // call still uses it.
  struct File {
    int fd;
    explicit File(int f) : fd(f) {}
    ~File();
  };
  using FileRef = std::shared_ptr<File>;
  struct Cached {
    FileRef file;
    std::list<ObjectId>::iterator lru;
  };
  // The object's open file: 0, -ENOENT when absent (and !create), or another negative errno.
  int openFile(const ObjectId &id, bool create, FileRef &out);
  void closeOldest();  // mu_ held
  void forget(const ObjectId &id);  // the path now names another file (or none)
  void removeTemporaries();
  ssize_t writeDirect(int cachedFd, uint64_t offset, const char *p, size_t len);
  std::atomic<bool> directUnsupported_{false};
  std::string dir_;
  size_t maxOpen_;
  std::mutex mu_;
  std::map<ObjectId, Cached> open_;
  std::list<ObjectId> lru_;  // least recently used first
};

}  // namespace server
}  // namespace ioc
