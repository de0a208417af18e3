#include "server/range_registry.h"

#include <errno.h>

namespace ioc {
namespace server {

int32_t RangeRegistry::add(const proto::ObjectId &obj, uint64_t offset, uint64_t size, bool write, uint64_t owner) {
  if (size == 0 || offset + size < offset) return -EINVAL;
  auto &list = ranges_[obj];
  if (check_) {
    for (const Range &r : list) {
      bool overlap = offset < r.offset + r.size && r.offset < offset + size;
      if (overlap && (write || r.write)) return -EBUSY;
    }
  }
  int32_t id = nextId_++;
  if (nextId_ <= 0) nextId_ = 1;  // wrap, ids stay >= 1
  list.push_back({id, offset, size, write, owner});
  return id;
}

int RangeRegistry::remove(int32_t id, const proto::ObjectId &obj, uint64_t offset, uint64_t size, bool write,
                          uint64_t owner) {
  auto it = ranges_.find(obj);
  if (it == ranges_.end()) return -ENOENT;
  auto &list = it->second;
  for (size_t i = 0; i < list.size(); i++) {
    const Range &r = list[i];
    if (r.id == id && r.offset == offset && r.size == size && r.write == write && r.owner == owner) {
      list.erase(list.begin() + i);
      if (list.empty()) ranges_.erase(it);
      return 0;
    }
  }
  return -ENOENT;
}

size_t RangeRegistry::releaseOwner(uint64_t owner) {
  size_t n = 0;
  for (auto it = ranges_.begin(); it != ranges_.end();) {
    auto &list = it->second;
    for (size_t i = 0; i < list.size();) {
      if (list[i].owner == owner) {
        list.erase(list.begin() + i);
        n++;
      } else {
        i++;
      }
    }
    it = list.empty() ? ranges_.erase(it) : std::next(it);
  }
  return n;
}

size_t RangeRegistry::count() const {
  size_t n = 0;
  for (auto &kv : ranges_) n += kv.second.size();
  return n;
}

}  // namespace server
}  // namespace ioc
