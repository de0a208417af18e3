// RadosStore: see rados_store.h. Compiled to nothing unless librados was found (IOC_HAVE_RADOS).
#ifdef IOC_HAVE_RADOS

#include "server/rados_store.h"

#include <errno.h>
#include <rados/librados.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "server/log.h"

namespace ioc {
namespace server {

namespace {

// librados operations of one wave at most in flight for a single read or copy.
constexpr size_t MAX_WAVE = 16;

rados_t clusterOf(void *p) { return static_cast<rados_t>(p); }
rados_ioctx_t ioOf(void *p) { return static_cast<rados_ioctx_t>(p); }

std::string err(int e) { return strerror(e < 0 ? -e : e); }

// Waits for and releases a set of completions; returns their return values.
struct Wave {
  std::vector<rados_completion_t> c;
  ~Wave() { waitAll(nullptr); }
  int add(rados_completion_t *out) {
    rados_completion_t x;
    int r = rados_aio_create_completion2(nullptr, nullptr, &x);
    if (r < 0) return r;
    c.push_back(x);
    *out = x;
    return 0;
  }
  // Drops the last completion when the operation could not be issued.
  void dropLast() {
    rados_aio_release(c.back());
    c.pop_back();
  }
  void waitAll(std::vector<int> *rets) {
    for (rados_completion_t x : c) {
      rados_aio_wait_for_complete(x);
      if (rets) rets->push_back(rados_aio_get_return_value(x));
      rados_aio_release(x);
    }
    c.clear();
  }
};

}  // namespace

struct RadosStore::Pending {
  ObjectId id;
  rados_completion_t c;
  std::unique_ptr<char[]> data;
  size_t len;
};

std::string RadosStore::objectName(const ObjectId &id) {
  char name[48];
  snprintf(name, sizeof name, "ioc.%016llx.%016llx", (unsigned long long)id.high, (unsigned long long)id.low);
  return name;
}

RadosStore::RadosStore(const RadosConfig &cfg) : cfg_(cfg) {
  if (cfg_.pool.empty()) throw std::runtime_error("rados store: no pool given (--store rados://POOL)");
  if (cfg_.clientName.empty()) cfg_.clientName = "client.admin";
  if (cfg_.clientName.find('.') == std::string::npos) cfg_.clientName = "client." + cfg_.clientName;
  if (cfg_.chunk == 0) cfg_.chunk = 4u << 20;
  rados_t cluster;
  int r = rados_create2(&cluster, "ceph", cfg_.clientName.c_str(), 0);
  if (r < 0) throw std::runtime_error("rados store: cannot create a cluster handle for " + cfg_.clientName + ": " + err(r));
  auto fail = [&](const std::string &msg) {
    rados_shutdown(cluster);
    throw std::runtime_error("rados store: " + msg);
  };
  if (!cfg_.confFile.empty()) {
    r = rados_conf_read_file(cluster, cfg_.confFile.c_str());
    if (r < 0) fail("cannot read the Ceph configuration " + cfg_.confFile + ": " + err(r));
  } else {
    r = rados_conf_read_file(cluster, nullptr);  // $CEPH_CONF, /etc/ceph/ceph.conf, ~/.ceph/config, ./ceph.conf
    if (r < 0) fail("no Ceph configuration found (give --ceph-conf FILE or set CEPH_CONF): " + err(r));
  }
  rados_conf_parse_env(cluster, nullptr);  // CEPH_ARGS
  // An unreachable cluster should fail the start within seconds, not Ceph's default 5 minutes.
  char val[64] = "";
  if (rados_conf_get(cluster, "client_mount_timeout", val, sizeof val) == 0 && atof(val) == 300.0) {
    rados_conf_set(cluster, "client_mount_timeout", "30");
  }
  // Nor should an operation wait forever for a cluster that went away (0: Ceph's "no timeout").
  if (rados_conf_get(cluster, "rados_osd_op_timeout", val, sizeof val) == 0 && atof(val) == 0.0) {
    rados_conf_set(cluster, "rados_osd_op_timeout", "120");
  }
  r = rados_connect(cluster);
  if (r < 0) {
    fail("cannot connect to the Ceph cluster as " + cfg_.clientName +
         (cfg_.confFile.empty() ? std::string() : " (configuration " + cfg_.confFile + ")") + ": " + err(r));
  }
  rados_ioctx_t io;
  r = rados_ioctx_create(cluster, cfg_.pool.c_str(), &io);
  if (r == -ENOENT) fail("pool '" + cfg_.pool + "' does not exist (create it: ceph osd pool create " + cfg_.pool + ")");
  if (r < 0) fail("cannot open pool '" + cfg_.pool + "': " + err(r));
  cluster_ = cluster;
  io_ = io;
}

RadosStore::~RadosStore() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    drain(nullptr);
    for (auto &kv : errors_) {
      log(LOG_ERROR, "rados", "unreported write error on %s: %s", objectName(kv.first).c_str(), err(kv.second).c_str());
    }
  }
  rados_aio_flush(ioOf(io_));
  rados_ioctx_destroy(ioOf(io_));
  rados_shutdown(clusterOf(cluster_));
}

std::string RadosStore::describe() const { return "rados://" + cfg_.pool; }

int RadosStore::note(int e, const char *what, const std::string &name) {
  if (e == -EFBIG) {
    log(LOG_ERROR, "rados", "%s %s: %s (the object would exceed the cluster's osd_max_object_size)", what,
        name.c_str(), err(e).c_str());
  } else {
    log(LOG_ERROR, "rados", "%s %s: %s", what, name.c_str(), err(e).c_str());
  }
  return e;
}

void RadosStore::complete(std::list<Pending>::iterator it) {
  rados_aio_wait_for_complete(it->c);
  int r = rados_aio_get_return_value(it->c);
  rados_aio_release(it->c);
  if (r < 0) {
    note(r, "write-behind to", objectName(it->id));
    errors_.emplace(it->id, r);  // keeps the first error
  }
  pendingBytes_ -= it->len;
  pending_.erase(it);
}

int RadosStore::takeError(const ObjectId &id) {
  auto it = errors_.find(id);
  if (it == errors_.end()) return 0;
  int e = it->second;
  errors_.erase(it);
  return e;
}

int RadosStore::drain(const ObjectId *id) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    auto next = std::next(it);
    if (!id || it->id == *id) complete(it);
    it = next;
  }
  return id ? takeError(*id) : 0;
}

int RadosStore::stat(const std::string &name, uint64_t *size) {
  uint64_t sz = 0;
  time_t mtime;
  int r = rados_stat(ioOf(io_), name.c_str(), &sz, &mtime);
  if (size) *size = r == 0 ? sz : 0;
  return r;
}

int RadosStore::create(const ObjectId &id) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string name = objectName(id);
  rados_write_op_t op = rados_create_write_op();
  rados_write_op_create(op, LIBRADOS_CREATE_IDEMPOTENT, nullptr);
  int r = rados_write_op_operate(op, ioOf(io_), name.c_str(), nullptr, 0);
  rados_release_write_op(op);
  if (r < 0) return note(r, "create", name);
  known_.insert(id);
  return 0;
}

bool RadosStore::exists(const ObjectId &id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (known_.count(id)) return true;
  for (const Pending &p : pending_)
    if (p.id == id) return true;
  std::string name = objectName(id);
  int r = stat(name, nullptr);
  if (r == 0) {
    known_.insert(id);
    return true;
  }
  if (r != -ENOENT) note(r, "stat", name);
  return false;
}

int64_t RadosStore::size(const ObjectId &id) {
  std::lock_guard<std::mutex> lock(mu_);
  int e = drain(&id);
  if (e < 0) errors_.emplace(id, e);  // still to be reported by sync()
  uint64_t sz = 0;
  std::string name = objectName(id);
  int r = stat(name, &sz);
  if (r < 0 && r != -ENOENT) note(r, "stat", name);
  return (int64_t)sz;
}

int RadosStore::probe(const ObjectId &id, int64_t &size) {
  std::lock_guard<std::mutex> lock(mu_);
  size = 0;
  int e = drain(&id);
  if (e < 0) errors_.emplace(id, e);  // still to be reported by sync()
  uint64_t sz = 0;
  std::string name = objectName(id);
  int r = stat(name, &sz);
  if (r == -ENOENT) return 0;
  if (r < 0) return note(r, "stat", name);  // not "absent": the object would read as zeros
  known_.insert(id);
  size = (int64_t)sz;
  return 1;
}

ssize_t RadosStore::read(const ObjectId &id, uint64_t offset, void *buf, size_t len) {
  std::lock_guard<std::mutex> lock(mu_);
  if (len == 0) return 0;
  int e = drain(&id);
  if (e < 0) return e;  // an earlier write of this object failed: its data is not what was written
  std::string name = objectName(id);
  char *p = static_cast<char *>(buf);
  int first = 0;
  // Cut into up to MAX_WAVE parallel operations (at least 1 MiB each, at most cfg_.chunk).
  size_t piece = std::min(cfg_.chunk, std::max<size_t>(1u << 20, (len + MAX_WAVE - 1) / MAX_WAVE));
  for (size_t wave = 0; wave < len && first == 0;) {
    Wave w;
    std::vector<std::pair<size_t, size_t>> parts;  // (position in buf, length)
    size_t pos = wave;
    for (size_t i = 0; i < MAX_WAVE && pos < len; i++) {
      size_t n = std::min(piece, len - pos);
      rados_completion_t c;
      int r = w.add(&c);
      if (r < 0) {
        first = r;
        break;
      }
      r = rados_aio_read(ioOf(io_), name.c_str(), c, p + pos, n, offset + pos);
      if (r < 0) {
        w.dropLast();
        first = r;
        break;
      }
      parts.emplace_back(pos, n);
      pos += n;
    }
    std::vector<int> rets;
    w.waitAll(&rets);
    for (size_t i = 0; i < parts.size(); i++) {
      int r = rets[i];
      if (r == -ENOENT) r = 0;  // no such object: zeros
      if (r < 0) {
        if (first == 0) first = r;
        continue;
      }
      if ((size_t)r < parts[i].second) memset(p + parts[i].first + r, 0, parts[i].second - r);  // past the end
    }
    wave = pos;
  }
  if (first < 0) return note(first, "read", name);
  return (ssize_t)len;
}

ssize_t RadosStore::write(const ObjectId &id, uint64_t offset, const void *buf, size_t len) {
  std::lock_guard<std::mutex> lock(mu_);
  if (len == 0) return 0;
  std::string name = objectName(id);
  const char *p = static_cast<const char *>(buf);
  for (size_t pos = 0; pos < len;) {
    size_t n = std::min(cfg_.chunk, len - pos);
    while (!pending_.empty() && pendingBytes_ + n > cfg_.writeWindow) complete(pending_.begin());
    Pending w;
    w.id = id;
    w.len = n;
    w.data.reset(new char[n]);
    memcpy(w.data.get(), p + pos, n);
    int r = rados_aio_create_completion2(nullptr, nullptr, &w.c);
    if (r < 0) return note(r, "write", name);
    r = rados_aio_write(ioOf(io_), name.c_str(), w.c, w.data.get(), n, offset + pos);
    if (r < 0) {
      rados_aio_release(w.c);
      return note(r, "write", name);
    }
    pending_.push_back(std::move(w));
    pendingBytes_ += n;
    pos += n;
  }
  int e = takeError(id);  // an earlier write-behind of this object failed
  return e < 0 ? e : (ssize_t)len;
}

int RadosStore::copyBytes(const std::string &src, const std::string &dst, uint64_t offset, uint64_t len,
                          bool zerosPastEnd) {
  const size_t chunk = cfg_.chunk;
  const size_t wave = std::max<size_t>(1, std::min<size_t>(MAX_WAVE, cfg_.writeWindow / chunk));
  std::unique_ptr<char[]> buf(new char[wave * chunk]);
  for (uint64_t pos = offset; pos < offset + len;) {
    std::vector<std::pair<uint64_t, size_t>> parts;  // (object offset, length)
    std::vector<int> rets;
    {
      Wave w;
      for (size_t i = 0; i < wave && pos < offset + len; i++) {
        size_t n = (size_t)std::min<uint64_t>(chunk, offset + len - pos);
        rados_completion_t c;
        int r = w.add(&c);
        if (r < 0) return r;
        r = rados_aio_read(ioOf(io_), src.c_str(), c, buf.get() + i * chunk, n, pos);
        if (r < 0) {
          w.dropLast();
          w.waitAll(nullptr);
          return note(r, "read", src);
        }
        parts.emplace_back(pos, n);
        pos += n;
      }
      w.waitAll(&rets);
    }
    bool atEnd = false;
    Wave w;
    for (size_t i = 0; i < parts.size(); i++) {
      int r = rets[i];
      if (r == -ENOENT) r = 0;
      if (r < 0) return note(r, "read", src);
      size_t n = parts[i].second;
      if ((size_t)r < n) {
        if (zerosPastEnd) memset(buf.get() + i * chunk + r, 0, n - r);
        else n = (size_t)r, atEnd = true;
      }
      if (n == 0) break;
      rados_completion_t c;
      int e = w.add(&c);
      if (e < 0) return e;
      e = rados_aio_write(ioOf(io_), dst.c_str(), c, buf.get() + i * chunk, n, parts[i].first);
      if (e < 0) {
        w.dropLast();
        return note(e, "write", dst);
      }
      if (atEnd) break;
    }
    std::vector<int> wrets;
    w.waitAll(&wrets);
    for (int r : wrets)
      if (r < 0) return note(r, "write", dst);
    if (atEnd) break;
  }
  return 0;
}

int RadosStore::copy(const ObjectId &src, const ObjectId &dst) {
  std::lock_guard<std::mutex> lock(mu_);
  int e = drain(&src);
  if (e < 0) return e;
  drain(&dst);  // replaced: earlier errors of dst no longer matter
  std::string s = objectName(src), d = objectName(dst);
  rados_write_op_t op = rados_create_write_op();
  rados_write_op_create(op, LIBRADOS_CREATE_IDEMPOTENT, nullptr);
  rados_write_op_truncate(op, 0);
  int r = rados_write_op_operate(op, ioOf(io_), d.c_str(), nullptr, 0);
  rados_release_write_op(op);
  if (r < 0) return note(r, "truncate", d);
  known_.insert(dst);
  uint64_t sz = 0;
  r = stat(s, &sz);
  if (r == -ENOENT) return 0;
  if (r < 0) return note(r, "stat", s);
  return copyBytes(s, d, 0, sz, false);
}

int RadosStore::copyRange(const ObjectId &src, const ObjectId &dst, uint64_t offset, uint64_t size) {
  if (offset + size < offset) return -EINVAL;
  std::lock_guard<std::mutex> lock(mu_);
  int e = drain(&src);
  if (e < 0) return e;
  e = drain(&dst);
  if (e < 0) return e;
  if (size == 0) return 0;
  known_.insert(dst);
  return copyBytes(objectName(src), objectName(dst), offset, size, true);
}

int RadosStore::sync(const ObjectId &id) {
  std::lock_guard<std::mutex> lock(mu_);
  // Each completion waited for means the write is committed by the OSDs (durable in the pool).
  int e = drain(&id);
  if (e < 0) return e;
  if (pending_.empty()) {
    int r = rados_aio_flush(ioOf(io_));
    if (r < 0) return note(r, "flush", objectName(id));
  }
  return 0;
}

int RadosStore::checkWritable() {
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  std::string name = std::string("ioc-write-check.") + host + "." + std::to_string(getpid());
  char block[4096];
  memset(block, 0x5a, sizeof block);
  // A synchronous write returns once the OSDs committed it (durable): the probe's "fsync".
  int r = rados_write_full(ioOf(io_), name.c_str(), block, sizeof block);
  if (r < 0) return r;
  r = rados_remove(ioOf(io_), name.c_str());
  return r == -ENOENT ? 0 : r;
}

int RadosStore::remove(const ObjectId &id) {
  std::lock_guard<std::mutex> lock(mu_);
  drain(&id);
  known_.erase(id);
  std::string name = objectName(id);
  int r = rados_remove(ioOf(io_), name.c_str());
  return r == 0 || r == -ENOENT ? 0 : note(r, "remove", name);
}

}  // namespace server
}  // namespace ioc

#endif  // IOC_HAVE_RADOS
