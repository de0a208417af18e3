#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <stdexcept>
#include <vector>

#include "server/backing_store.h"
#include "server/log.h"
#include "common/failpoint.h"

namespace ioc {
namespace server {

static int mkdirs(const std::string &dir) {
  std::string cur;
  for (size_t i = 0; i <= dir.size(); i++) {
    if (i == dir.size() || dir[i] == '/') {
      if (!cur.empty() && mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) return -errno;
    }
    if (i < dir.size()) cur += dir[i];
  }
  return 0;
}

static ssize_t pwriteAll(int fd, const char *p, size_t len, uint64_t offset) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = pwrite(fd, p + done, len - done, offset + done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    done += n;
  }
  return len;
}

size_t DirectoryStore::defaultMaxOpen() {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 4096;
  // A quarter: the rest is for client connections (a TCP side channel and fabric sockets each).
  return std::max<size_t>(4, std::min<size_t>(4096, rl.rlim_cur / 4));
}

DirectoryStore::DirectoryStore(const std::string &dir, size_t maxOpen)
    : dir_(dir), maxOpen_(maxOpen ? maxOpen : defaultMaxOpen()) {
  int ret = mkdirs(dir);
  if (ret < 0) throw StoreUnusable(dir, std::string("cannot create the directory: ") + strerror(-ret));
  // mkdirs() takes an existing plain file for the directory (EEXIST): every request would then
  // fail with ENOTDIR.
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) throw StoreUnusable(dir, strerror(errno));
  if (!S_ISDIR(st.st_mode)) throw StoreUnusable(dir, strerror(ENOTDIR));
  removeTemporaries();
}

int DirectoryStore::checkWritable() {
  // A hidden name (objects are HIGH-LOW in hex, temporaries TEMP_PREFIX...), unique to this
  // process; a probe left by a crash is harmless and never read.
  std::string path = dir_ + "/" + PROBE_PREFIX + std::to_string(getpid()) + ".XXXXXX";
  int fd = mkostemp(&path[0], O_CLOEXEC);
  if (fd < 0) return -errno;
  char block[4096];
  memset(block, 0x5a, sizeof block);
  ssize_t w = pwriteAll(fd, block, sizeof block, 0);
  int ret = w < 0 ? (int)w : 0;
  if (ret == 0 && fsync(fd) != 0) ret = -errno;
  close(fd);
  if (unlink(path.c_str()) != 0 && ret == 0) ret = -errno;
  return ret;
}

DirectoryStore::~DirectoryStore() = default;

DirectoryStore::File::~File() { close(fd); }

void DirectoryStore::removeTemporaries() {
  DIR *d = opendir(dir_.c_str());
  if (!d) return;
  size_t n = 0;
  size_t prefixLen = strlen(TEMP_PREFIX);
  while (dirent *e = readdir(d))
    if (strncmp(e->d_name, TEMP_PREFIX, prefixLen) == 0 && unlinkat(dirfd(d), e->d_name, 0) == 0) n++;
  closedir(d);
  if (n) log(LOG_INFO, "store", "removed %zu unfinished copies left in %s by an earlier run", n, dir_.c_str());
}

std::string DirectoryStore::pathOf(const ObjectId &id) const {
  char name[40];
  snprintf(name, sizeof name, "%016llx-%016llx", (unsigned long long)id.high, (unsigned long long)id.low);
  return dir_ + "/" + name;
}

void DirectoryStore::closeOldest() {
  open_.erase(lru_.front());  // the file closes now, or when its last user lets go
  lru_.pop_front();
}

int DirectoryStore::openFile(const ObjectId &id, bool create, FileRef &out) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = open_.find(id);
  if (it != open_.end()) {
    lru_.splice(lru_.end(), lru_, it->second.lru);
    out = it->second.file;
    return 0;
  }
  while (open_.size() >= maxOpen_) closeOldest();
  std::string path = pathOf(id);
  int fd;
  // Out of descriptors (clients hold many): give cached ones back rather than fail.
  while ((fd = open(path.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0644)) < 0 &&
         (errno == EMFILE || errno == ENFILE) && !open_.empty())
    closeOldest();
  if (fd < 0) return -errno;
  out = std::make_shared<File>(fd);
  open_[id] = Cached{out, lru_.insert(lru_.end(), id)};
  return 0;
}

void DirectoryStore::forget(const ObjectId &id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = open_.find(id);
  if (it == open_.end()) return;
  lru_.erase(it->second.lru);
  open_.erase(it);
}

int DirectoryStore::create(const ObjectId &id) {
  FileRef f;
  return openFile(id, true, f);
}

int DirectoryStore::probe(const ObjectId &id, int64_t &size) {
  size = 0;
  FileRef f;
  int ret = openFile(id, false, f);
  if (ret == -ENOENT) return 0;
  if (ret < 0) return ret;
  struct stat st;
  if (fstat(f->fd, &st) != 0) return -errno;
  size = st.st_size;
  return 1;
}

bool DirectoryStore::exists(const ObjectId &id) {
  int64_t size;
  return probe(id, size) > 0;
}

int64_t DirectoryStore::size(const ObjectId &id) {
  int64_t size;
  return probe(id, size) > 0 ? size : 0;
}

ssize_t DirectoryStore::read(const ObjectId &id, uint64_t offset, void *buf, size_t len) {
  FileRef f;
  int ret = openFile(id, false, f);
  if (ret < 0 && ret != -ENOENT) return ret;
  char *p = static_cast<char *>(buf);
  size_t done = 0;
  while (f && done < len) {
    ssize_t n = pread(f->fd, p + done, len - done, offset + done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) break;  // end of file: the rest reads as zeros
    done += n;
  }
  if (done < len) memset(p + done, 0, len - done);
  return len;
}

// Large aligned writes bypass the page cache (O_DIRECT): the bytes are already cached in the
// server's segments, and copying them into fresh page-cache pages would take a store thread's
// CPU from the transfers it should not slow down. The rest, and
// filesystems without O_DIRECT, go through the page cache. Writes of one object never run
// concurrently (the cache runs one store job per object at a time), and the kernel keeps the two
// paths coherent for later reads.
static constexpr size_t DIRECT_MIN = 1u << 20, DIRECT_ALIGN = 4096;

ssize_t DirectoryStore::writeDirect(int cachedFd, uint64_t offset, const char *p, size_t len) {
  // The same file as the cached descriptor (which later syncs it), whatever its path names now.
  char self[40];
  snprintf(self, sizeof self, "/proc/self/fd/%d", cachedFd);
  int fd = open(self, O_WRONLY | O_CLOEXEC | O_DIRECT);
  if (fd < 0) {
    if (errno == EINVAL) directUnsupported_ = true;  // e.g. an older tmpfs
    return -errno;
  }
  ssize_t ret = pwriteAll(fd, p, len, offset);
  close(fd);
  if (ret == -EINVAL) directUnsupported_ = true;
  return ret;
}

ssize_t DirectoryStore::write(const ObjectId &id, uint64_t offset, const void *buf, size_t len) {
  FileRef f;
  int ret = openFile(id, true, f);
  if (ret < 0) return ret;
  const char *p = static_cast<const char *>(buf);
  if (len >= DIRECT_MIN && !directUnsupported_ && offset % DIRECT_ALIGN == 0 && len % DIRECT_ALIGN == 0 &&
      (uintptr_t)p % DIRECT_ALIGN == 0) {
    ssize_t n = writeDirect(f->fd, offset, p, len);
    if (n >= 0 || !directUnsupported_) return n;
  }
  return pwriteAll(f->fd, p, len, offset);
}

// Copy the first `total` bytes of in to out (same offsets).
static int copyFile(int in, int out, uint64_t total) {
  // Failpoint store.copy_kill_at_bytes=value(N): the daemon SIGKILLs itself once N bytes are
  // copied, to show that a crash mid-copy leaves the destination intact
  // (test/integrity-store.test.ts). 0 (and always in a release build): off.
  uint64_t killAfter = (uint64_t)IOC_FAILPOINT_VALUE(store_copy_kill_at_bytes);
  loff_t inOff = 0, outOff = 0;
  bool inKernel = true;
  std::vector<char> buf;
  while ((uint64_t)inOff < total) {
    uint64_t want = total - inOff;
    if (killAfter && (uint64_t)inOff < killAfter) want = std::min<uint64_t>(want, killAfter - inOff);
    ssize_t n = -1;
    if (inKernel) {
      n = copy_file_range(in, &inOff, out, &outOff, want, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) inKernel = false;  // unsupported here (or src shrank): copy through a buffer
    }
    if (!inKernel) {
      if (buf.empty()) buf.resize(1 << 20);
      size_t chunk = (size_t)std::min<uint64_t>(buf.size(), want);
      n = pread(in, buf.data(), chunk, inOff);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return -errno;
      if (n == 0) {  // src shrank meanwhile: the rest is zeros
        if (ftruncate(out, total) != 0) return -errno;
        break;
      }
      ssize_t w = pwriteAll(out, buf.data(), n, outOff);
      if (w < 0) return (int)w;
      inOff += n;
      outOff += n;
    }
#ifdef IOC_FAILPOINTS_ENABLED
    if (killAfter && (uint64_t)inOff >= killAfter) {
      log(LOG_WARN, "store", "test hook: copy killed after copying %llu bytes", (unsigned long long)inOff);
      kill(getpid(), SIGKILL);
    }
#endif
  }
  return ftruncate(out, total) == 0 ? 0 : -errno;
}

int DirectoryStore::copy(const ObjectId &src, const ObjectId &dst) {
  FileRef in;
  int ret = openFile(src, false, in);
  if (ret < 0 && ret != -ENOENT) return ret;
  int64_t total = 0;
  if (in) {
    struct stat st;
    if (fstat(in->fd, &st) != 0) return -errno;
    total = st.st_size;
  }
  // Into a temporary beside dst, made durable, then renamed over it: never a partial dst.
  std::string name = pathOf(dst).substr(dir_.size() + 1);
  std::string tmp = dir_ + "/" + TEMP_PREFIX + name + ".XXXXXX";
  int out = mkostemp(&tmp[0], O_CLOEXEC);
  if (out < 0) return -errno;
  ret = fchmod(out, 0644) == 0 ? 0 : -errno;
  if (ret == 0 && total > 0) ret = copyFile(in->fd, out, total);
  if (ret == 0 && fsync(out) != 0) ret = -errno;
  close(out);
  if (ret == 0 && rename(tmp.c_str(), pathOf(dst).c_str()) != 0) ret = -errno;
  if (ret < 0) {
    unlink(tmp.c_str());
    return ret;
  }
  forget(dst);  // a cached descriptor would still name the replaced file
  int dirFd = open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirFd < 0) return -errno;
  ret = fsync(dirFd) == 0 ? 0 : -errno;  // the rename itself
  close(dirFd);
  return ret;
}

int DirectoryStore::copyRange(const ObjectId &src, const ObjectId &dst, uint64_t offset, uint64_t len) {
  if (offset + len < offset) return -EINVAL;
  FileRef in, out;
  int ret = openFile(src, false, in);
  if (ret < 0 && ret != -ENOENT) return ret;
  ret = openFile(dst, true, out);
  if (ret < 0) return ret;
  // In-kernel copy for the part src holds; the rest (past its end) goes the generic way, as zeros.
  int64_t srcSize = 0;
  struct stat st;
  if (in && fstat(in->fd, &st) == 0) srcSize = st.st_size;
  uint64_t end = offset + len;
  loff_t inOff = offset, outOff = offset;
  while (in && (uint64_t)inOff < std::min<uint64_t>(end, srcSize)) {
    ssize_t n = copy_file_range(in->fd, &inOff, out->fd, &outOff, std::min<uint64_t>(end, srcSize) - inOff, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // unsupported here (or src shrank): finish generically
  }
  if ((uint64_t)inOff >= end) return 0;
  return BackingStore::copyRange(src, dst, inOff, end - inOff);
}

int DirectoryStore::sync(const ObjectId &id) {
  FileRef f;
  int ret = openFile(id, false, f);
  if (ret == -ENOENT) return 0;
  if (ret < 0) return ret;
  return fdatasync(f->fd) == 0 ? 0 : -errno;
}

int DirectoryStore::remove(const ObjectId &id) {
  {
    // Under the lock that openFile() holds while it opens: no other thread caches a descriptor
    // of the unlinked file (a later write to the object would go to it, never to the store).
    std::lock_guard<std::mutex> lock(mu_);
    if (unlink(pathOf(id).c_str()) != 0 && errno != ENOENT) return -errno;  // kept, descriptor too
    auto it = open_.find(id);
    if (it != open_.end()) {
      lru_.erase(it->second.lru);
      open_.erase(it);
    }
  }
  // Durable: the directory too (also when the file was absent: an earlier attempt's unlink,
  // cut off by a crash, may not be).
  int dirFd = open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirFd < 0) return -errno;
  int ret = fsync(dirFd) == 0 ? 0 : -errno;
  close(dirFd);
  return ret;
}

void DirectoryStore::probeAll(std::vector<ProbedObject> &objects) {
  for (ProbedObject &o : objects) {
    struct stat st;
    o.size = 0;
    if (::stat(pathOf(o.id).c_str(), &st) == 0) {
      o.found = 1;
      o.size = st.st_size;
    } else {
      o.found = errno == ENOENT ? 0 : -errno;
    }
  }
}

// HIGH-LOW: 16 lowercase hex digits, '-', 16 lowercase hex digits.
static bool objectName(const char *name, ObjectId &id) {
  return strlen(name) == 33 && name[16] == '-' && parseHex16(name, id.high) && parseHex16(name + 17, id.low);
}

// Entries a page reads at most (a filter may skip most of a large directory): a store thread
// stays with one page for a bounded time.
static constexpr size_t LIST_SCAN_MAX = 16384;

int DirectoryStore::list(const std::string &position, bool filterHigh, int64_t high, size_t maxEntries,
                         StorePage &out) {
  out = StorePage();
  long cookie = 0;
  if (!position.empty()) {
    char *end = nullptr;
    errno = 0;
    unsigned long long v = strtoull(position.c_str(), &end, 16);
    if (errno || *end || position.size() > 16 || v > (unsigned long long)LONG_MAX) return -EINVAL;
    cookie = (long)v;
  }
  DIR *d = opendir(dir_.c_str());
  if (!d) return -errno;
  if (!position.empty()) seekdir(d, cookie);
  int ret = 0;
  size_t scanned = 0;
  // Checked before each readdir: an entry read is either listed or skipped for good (the
  // position after it is the one handed out).
  while (out.objects.size() < maxEntries && scanned < LIST_SCAN_MAX) {
    errno = 0;
    dirent *e = readdir(d);
    if (!e) {
      if (errno) ret = -errno;
      else out.end = true;
      break;
    }
    scanned++;
    ObjectId id;
    if (!objectName(e->d_name, id) || (filterHigh && id.high != high)) continue;
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // removed meanwhile
      ret = -errno;
      break;
    }
    if (!S_ISREG(st.st_mode)) continue;
    out.objects.push_back({id, (int64_t)st.st_size});
  }
  if (ret == 0 && !out.end) {
    char next[24];
    snprintf(next, sizeof next, "%lx", (unsigned long)telldir(d));
    out.next = next;
  }
  closedir(d);
  return ret;
}

}  // namespace server
}  // namespace ioc
