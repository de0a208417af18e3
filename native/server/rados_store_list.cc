// RadosStore's listing and batched lookups (see rados_store.h). Compiled to nothing unless
// librados was found (IOC_HAVE_RADOS).
//
// A listing position that survives between requests: librados' C API cannot turn a listing
// cursor (an hobject_t inside librados) into text and back (the C++ API's ObjectCursor::to_str
// has no installed header here). What the C API has: cursors at any placement-hash position
// (rados_object_list_slice of the whole pool into 2^32 slices: slice h starts before every object
// whose bit-reversed placement hash is h), and rados_object_list_cursor_cmp. Objects are listed
// in (bit-reversed hash, name) order, which does not depend on the pool's PG count. So a
// position is the hash h where the next object is (found by bisection with the comparison), plus
// the names of our objects already listed with that very hash (almost always none: only objects
// whose 32-bit hashes collide share one). The next page lists from slice h and skips those
// names. Objects created or removed meanwhile move no other object: a position stays valid.
#ifdef IOC_HAVE_RADOS

#include <errno.h>
#include <rados/librados.h>

#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "server/log.h"
#include "server/rados_store.h"

namespace ioc {
namespace server {

namespace {

constexpr uint64_t HASH_SPACE = 1ull << 32;
// Names carried in a position at most (each 33 characters; LIST_POSITION_MAX bounds them).
constexpr size_t SKIP_MAX = 24;
// Objects read and librados calls made by one page at most (a filter may skip most of a pool;
// empty placement groups cost a call each): a store thread stays with one page for a bounded time.
constexpr size_t LIST_SCAN_MAX = 16384;
constexpr size_t LIST_CALLS_MAX = 1024;

rados_ioctx_t ioOf(void *p) { return static_cast<rados_ioctx_t>(p); }

// A listing cursor, freed with its ioctx.
class Cursor {
 public:
  Cursor(rados_ioctx_t io, rados_object_list_cursor c) : io_(io), c_(c) {}
  Cursor(Cursor &&o) noexcept : io_(o.io_), c_(o.c_) { o.c_ = nullptr; }
  Cursor(const Cursor &) = delete;
  Cursor &operator=(const Cursor &) = delete;
  ~Cursor() {
    if (c_) rados_object_list_cursor_free(io_, c_);
  }
  rados_object_list_cursor get() const { return c_; }
  rados_object_list_cursor *out() { return &c_; }

 private:
  rados_ioctx_t io_;
  rados_object_list_cursor c_;
};

// The cursor before every object whose bit-reversed placement hash is >= h (h < 2^32).
Cursor atHash(rados_ioctx_t io, uint64_t h) {
  Cursor begin(io, rados_object_list_begin(io)), end(io, rados_object_list_end(io));
  // The slice call fills cursors it is given (any allocated ones).
  Cursor start(io, rados_object_list_begin(io)), finish(io, rados_object_list_begin(io));
  rados_object_list_slice(io, begin.get(), end.get(), (size_t)h, (size_t)HASH_SPACE, start.out(), finish.out());
  return start;
}

// The largest h whose atHash(h) is at or before c.
uint32_t hashFloor(rados_ioctx_t io, rados_object_list_cursor c) {
  uint64_t lo = 0, hi = HASH_SPACE;  // atHash(0) is the pool's start: at or before anything
  while (hi - lo > 1) {
    uint64_t mid = lo + (hi - lo) / 2;
    Cursor m = atHash(io, mid);
    if (rados_object_list_cursor_cmp(io, m.get(), c) <= 0) lo = mid;
    else hi = mid;
  }
  return (uint32_t)lo;
}

// "ioc.HIGH.LOW" (RadosStore::objectName).
bool ourObject(const char *name, size_t len, ObjectId &id) {
  return len == 37 && memcmp(name, "ioc.", 4) == 0 && name[20] == '.' && parseHex16(name + 4, id.high) &&
         parseHex16(name + 21, id.low);
}

bool parsePosition(const std::string &pos, uint64_t &hash, std::set<ObjectId> &skip) {
  hash = 0;
  if (pos.empty()) return true;
  if (pos.size() < 8 || (pos.size() - 8) % 33 != 0 || (pos.size() - 8) / 33 > SKIP_MAX) return false;
  int64_t h;
  char padded[17] = "00000000";
  memcpy(padded + 8, pos.data(), 8);
  if (!parseHex16(padded, h)) return false;
  hash = (uint64_t)h;
  for (size_t at = 8; at < pos.size(); at += 33) {
    ObjectId id;
    if (pos[at] != '.' || !parseHex16(pos.data() + at + 1, id.high) || !parseHex16(pos.data() + at + 17, id.low))
      return false;
    skip.insert(id);
  }
  return true;
}

std::string hex(uint64_t v, int digits) {
  char s[24];
  snprintf(s, sizeof s, "%0*llx", digits, (unsigned long long)v);
  return s;
}

}  // namespace

void RadosStore::probeAll(std::vector<ProbedObject> &objects) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    drain(nullptr);  // sizes include the writes still in flight (their errors stay for sync())
  }
  statAll(objects);
}

// rados_aio_stat of every object at once.
void RadosStore::statAll(std::vector<ProbedObject> &objects) {
  rados_ioctx_t io = ioOf(io_);
  struct One {
    std::string name;
    rados_completion_t c = nullptr;
    uint64_t size = 0;
    time_t mtime = 0;
  };
  std::vector<One> ops(objects.size());
  for (size_t i = 0; i < objects.size(); i++) {
    ops[i].name = objectName(objects[i].id);
    int r = rados_aio_create_completion2(nullptr, nullptr, &ops[i].c);
    if (r == 0) r = rados_aio_stat(io, ops[i].name.c_str(), ops[i].c, &ops[i].size, &ops[i].mtime);
    if (r < 0) {
      if (ops[i].c) rados_aio_release(ops[i].c);
      ops[i].c = nullptr;
      objects[i].found = note(r, "stat", ops[i].name);
    }
  }
  for (size_t i = 0; i < objects.size(); i++) {
    if (!ops[i].c) continue;
    rados_aio_wait_for_complete(ops[i].c);
    int r = rados_aio_get_return_value(ops[i].c);
    rados_aio_release(ops[i].c);
    objects[i].size = r == 0 ? (int64_t)ops[i].size : 0;
    objects[i].found = r == 0 ? 1 : r == -ENOENT ? 0 : note(r, "stat", ops[i].name);
  }
}

int RadosStore::list(const std::string &position, bool filterHigh, int64_t high, size_t maxEntries, StorePage &out) {
  out = StorePage();
  uint64_t hash;
  std::set<ObjectId> skip;
  if (!parsePosition(position, hash, skip)) return -EINVAL;
  {
    std::lock_guard<std::mutex> lock(mu_);
    drain(nullptr);  // objects whose first writes are still in flight exist in the pool once listed
  }
  rados_ioctx_t io = ioOf(io_);
  Cursor cur = position.empty() ? Cursor(io, rados_object_list_begin(io)) : atHash(io, hash);
  Cursor end(io, rados_object_list_end(io));
  std::vector<rados_object_list_item> items(std::max<size_t>(1, maxEntries));
  std::vector<ProbedObject> found;
  size_t scanned = 0, calls = 0;
  while (found.size() < maxEntries && scanned < LIST_SCAN_MAX && calls < LIST_CALLS_MAX &&
         !rados_object_list_is_end(io, cur.get())) {
    // At most what the page still takes: every object returned is listed or skipped for good.
    int r = rados_object_list(io, cur.get(), end.get(), maxEntries - found.size(), nullptr, 0, items.data(), cur.out());
    calls++;
    if (r < 0) return note(r, "list the objects of pool", cfg_.pool);
    for (int i = 0; i < r; i++) {
      ObjectId id;
      if (items[i].nspace_length == 0 && ourObject(items[i].oid, items[i].oid_length, id) && !skip.count(id) &&
          (!filterHigh || id.high == high))
        found.push_back({id, 0, 0});
    }
    rados_object_list_free(r, items.data());
    scanned += r;
  }
  out.end = rados_object_list_is_end(io, cur.get());
  statAll(found);
  for (const ProbedObject &p : found) {
    if (p.found < 0) return p.found;
    if (p.found > 0) out.objects.push_back({p.id, p.size});  // else removed meanwhile
  }
  if (out.end) return 0;
  uint32_t h = hashFloor(io, cur.get());
  out.next = hex(h, 8);
  Cursor at = atHash(io, h);
  // Objects of hash h before the cursor were listed (by this page or an earlier one): named.
  size_t named = 0;
  for (size_t guard = 0; rados_object_list_cursor_cmp(io, at.get(), cur.get()) < 0 && guard < LIST_CALLS_MAX; guard++) {
    std::vector<rados_object_list_item> same(SKIP_MAX + 1);
    int r = rados_object_list(io, at.get(), cur.get(), same.size(), nullptr, 0, same.data(), at.out());
    if (r < 0) return note(r, "list the objects of pool", cfg_.pool);
    for (int i = 0; i < r; i++) {
      ObjectId id;
      if (same[i].nspace_length == 0 && ourObject(same[i].oid, same[i].oid_length, id) && named++ < SKIP_MAX)
        out.next += "." + hex((uint64_t)id.high, 16) + hex((uint64_t)id.low, 16);
    }
    rados_object_list_free(r, same.data());
  }
  if (named > SKIP_MAX) {
    log(LOG_ERROR, "rados", "listing pool %s: %zu objects share one placement hash, more than a position holds",
        cfg_.pool.c_str(), named);
    return -EOVERFLOW;
  }
  return 0;
}

}  // namespace server
}  // namespace ioc

#endif  // IOC_HAVE_RADOS
