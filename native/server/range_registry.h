// Range registrations (mapping locks) per object: any overlap where either side is a write
// registration is a conflict; read/read overlaps are fine. Owned by the fabric thread.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "fabric/protocol.h"

namespace ioc {
namespace server {

class RangeRegistry {
 public:
  explicit RangeRegistry(bool checkConsistency) : check_(checkConsistency) {}
  // Returns an id >= 1, or -EBUSY on conflict, -EINVAL for an empty/overflowing range.
  int32_t add(const proto::ObjectId &obj, uint64_t offset, uint64_t size, bool write, uint64_t owner);
  // Exact match of every field (and the owner) needed: 0 or -ENOENT.
  int remove(int32_t id, const proto::ObjectId &obj, uint64_t offset, uint64_t size, bool write, uint64_t owner);
  // Drop every registration of a client that went away; returns how many.
  size_t releaseOwner(uint64_t owner);
  size_t count() const;
  // Whether any range of the object is registered (a delete is refused meanwhile).
  bool anyOn(const proto::ObjectId &obj) const {
    auto it = ranges_.find(obj);
    return it != ranges_.end() && !it->second.empty();
  }

 private:
  struct Range {
    int32_t id;
    uint64_t offset, size;
    bool write;
    uint64_t owner;
  };
  bool check_;
  int32_t nextId_ = 1;
  std::map<proto::ObjectId, std::vector<Range>> ranges_;
};

}  // namespace server
}  // namespace ioc
