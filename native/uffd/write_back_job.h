// An asynchronous write-back of a mapping (Mapping::snapshotWriteBack, then runWriteBack): the
// copy of the range's dirty pages taken at the call, cut into pieces, and which pieces have
// reached the store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "snapshot_buffer.h"

namespace ummap {

struct WritePiece {
  size_t offset;          // from the mapping's base, page aligned
  size_t length;          // whole pages (the write itself is trimmed to the mapping's size)
  const uint8_t* source;  // the bytes to write: in the mapping, or in a snapshot copy
  int result = 1;         // 1: not written yet, 0: written, < 0: the driver's error
};

struct WriteBackJob {
  uint64_t turn = 0;              // the mapping runs write-backs one at a time, in call order
  size_t offset = 0, length = 0;  // the range as asked, inside the mapping
  size_t start = 0, end = 0;      // the same, page aligned
  bool syncDriver = false, evict = false;
  uint64_t failuresAtCall = 0;  // the mapping's failed write-backs when this one was called
  std::vector<std::unique_ptr<SnapshotBuffer>> copies;
  std::vector<WritePiece> pieces;

  bool unwrittenIn(size_t from, size_t to) const {
    for (const WritePiece& p : pieces)
      if (p.result != 0 && p.offset < to && p.offset + p.length > from) return true;
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
