// An asynchronous write-back of a mapping (Mapping::snapshotWriteBack, then runWriteBack): the
// range's dirty pages as of the call (copied, or moved out of the mapping), cut into pieces, and
// which pieces have reached the store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "snapshot_buffer.h"

namespace ummap {

struct WritePiece {
  size_t offset;          // from the mapping's base, page aligned
  size_t length;          // whole pages (the write itself is trimmed to the mapping's size)
  const uint8_t* source;  // the bytes to write: in the mapping, or in a snapshot copy
  int result = 1;         // 1: not written yet, 0: written, < 0: the driver's error
};

// Dirty pages of the mapping moved (mremap) into a range of their own at the call, instead of
// copied: the mapping's range is empty meanwhile (a fault there gets its segment's part copied
// back from here), and the pages move back once the write-back is done.
struct MovedRun {
  size_t offset = 0, length = 0;  // in the mapping, page aligned
  uint8_t* pages = nullptr;       // where they are meanwhile
  std::vector<std::pair<size_t, size_t>> copiedBack;  // [from, to): served to faults meanwhile
  std::vector<std::pair<size_t, size_t>> redirty;     // [from, to): dirty again once back
  bool returned = false;

  bool holds(size_t at) const { return !returned && at >= offset && at < offset + length; }
  bool overlaps(size_t from, size_t to) const { return !returned && offset < to && offset + length > from; }
};

struct WriteBackJob {
  uint64_t turn = 0;              // the mapping runs write-backs one at a time, in call order
  size_t offset = 0, length = 0;  // the range as asked, inside the mapping
  size_t start = 0, end = 0;      // the same, page aligned
  bool syncDriver = false, evict = false;
  uint64_t failuresAtCall = 0;  // the mapping's failed write-backs when this one was called
  int setupError = 0;           // -errno: the snapshot could not be taken (its pages are dirty again)
  std::vector<std::unique_ptr<SnapshotBuffer>> copies;
  std::vector<MovedRun> moved;
  std::vector<WritePiece> pieces;

  // Pages of [from, to) this job still needs: a piece not written, or pages not moved back.
  bool unwrittenIn(size_t from, size_t to) const {
    for (const WritePiece& p : pieces)
      if (p.result != 0 && p.offset < to && p.offset + p.length > from) return true;
    for (const MovedRun& run : moved)
      if (run.overlaps(from, to)) return true;
    return false;
  }
};

// Append run [offset, offset+length) cut into pieces of at most pieceBytes (page multiple),
// whose bytes start at source.
inline void cutIntoPieces(size_t offset, size_t length, const uint8_t* source, size_t pieceBytes, std::vector<WritePiece>& out) {
  for (size_t done = 0; done < length;) {
    size_t n = length - done < pieceBytes ? length - done : pieceBytes;
    out.push_back({offset + done, n, source + done});
    done += n;
  }
}

}  // namespace ummap
