// What a mapping reads its segments from and writes its dirty pages to. Drivers are native so
// that the fault handler thread never calls into JavaScript. To add one: subclass
// StorageDriver, then register a factory in driver_registry.cc under a URI scheme name.
#pragma once

#include <errno.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace ummap {

using DriverParams = std::map<std::string, std::string>;

class StorageDriver {
 public:
  virtual ~StorageDriver() = default;

  // Read up to size bytes at offset into buf. Returns the bytes read (a short count means the
  // rest does not exist yet and reads as zeros) or a negative errno.
  virtual ssize_t read(void* buf, size_t size, uint64_t offset) = 0;
  // Write size bytes at offset. Returns size or a negative errno.
  virtual ssize_t write(const void* buf, size_t size, uint64_t offset) = 0;
  // Several small writes at once (a write-back's scattered dirty pages): 0 when all landed, else
  // a negative errno (any of them may have landed). Called with pieces of at most
  // gatherBytes() in all; drivers that can send them together override both.
  struct Piece {
    const void* buf;
    size_t size;
    uint64_t offset;
  };
  virtual int writeGathered(const Piece* pieces, size_t n) {
    for (size_t i = 0; i < n; i++) {
      ssize_t w = write(pieces[i].buf, pieces[i].size, pieces[i].offset);
      if (w != static_cast<ssize_t>(pieces[i].size)) return w < 0 ? static_cast<int>(w) : -EIO;
    }
    return 0;
  }
  virtual size_t gatherBytes() const { return 0; }  // 0: pieces go one by one
  // Gathered calls in flight at once (small messages: more of them hide each one's round trip).
  virtual unsigned gatherParallelism() const { return writeParallelism(); }
  // Make what was written durable (server flush, fdatasync). 0 or a negative errno.
  virtual int sync(uint64_t offset, size_t size) { return 0; }
  // Nonzero while acknowledged writes live only in the memory of a server that may restart
  // without them (ioc over a server without --nvdimm): the server's start epoch, which changes
  // when it restarts. 0: written bytes stay once acknowledged (or nothing is known).
  virtual uint64_t volatileEpoch() { return 0; }
  // How a write-back cuts its dirty runs and how many pieces it keeps in flight at once (write()
  // is then called from that many threads; $UMMAP_WRITE_PIECE_BYTES / $UMMAP_WRITE_PARALLELISM
  // override both). One 8 MiB piece at a time unless the driver knows better (ioc).
  virtual size_t writePieceBytes() const { return size_t{8} << 20; }
  virtual unsigned writeParallelism() const { return 1; }
  // How many read-ahead reads to keep in flight on reader threads (read_ahead.h) while the
  // handler installs what arrived. 0: read ahead on the handler thread (a store in memory has
  // no latency to hide).
  virtual unsigned readAheadReaders() const { return 0; }

  // Zero-copy read: a pointer to size stable bytes at offset, or nullptr when the driver has no
  // such memory. Lets the filler UFFDIO_COPY straight from the store.
  virtual const void* directSource(uint64_t offset, size_t size) { return nullptr; }

  // Copy [offset, offset+size) of this store to the same range of dest (cow). Drivers that can
  // do it server-side override this; returns 1 when handled, 0 to fall back to read + write.
  virtual int copyRangeTo(StorageDriver& dest, uint64_t offset, size_t size, bool allowExist) { return 0; }
  // Whether the store already holds data (cow refuses an existing destination unless allowed).
  virtual bool exists() { return false; }
  // The size of the stored object, for a mapping given no size: >= 0, or a negative errno
  // (-ENOENT: no such object; -ENOSYS: this driver cannot tell), with why set when there is
  // more to say than the errno.
  virtual int64_t objectSize(std::string& why) { return -ENOSYS; }
  // Called once when a mapping starts/stops using the driver (ioc range registration).
  virtual int attach(uint64_t offset, size_t size, bool write) { return 0; }
  virtual void detach() {}

  // Short description for errors, e.g. "file:///tmp/x".
  virtual std::string describe() const = 0;
};

using DriverFactory = std::shared_ptr<StorageDriver> (*)(const DriverParams& params);

// Create a driver for scheme ("mem", "file", "dummy", "ioc") from its parameters.
// Throws std::invalid_argument / std::system_error on bad parameters or I/O setup failures.
std::shared_ptr<StorageDriver> createDriver(const std::string& scheme, const DriverParams& params);
// Release a named process-wide mem store (mem://SIZE?name=N). Returns false if unknown.
bool dropMemStore(const std::string& name);

// Helpers for factories.
const std::string& requireParam(const DriverParams& params, const char* key);
uint64_t parseU64Param(const DriverParams& params, const char* key, uint64_t fallback);

// Factories (one per driver file).
std::shared_ptr<StorageDriver> createMemDriver(const DriverParams& params);
std::shared_ptr<StorageDriver> createFileDriver(const DriverParams& params);
std::shared_ptr<StorageDriver> createDummyDriver(const DriverParams& params);
std::shared_ptr<StorageDriver> createIocDriver(const DriverParams& params);

}  // namespace ummap
