// Codec cases of OBJ_WRITE_PIECES: round trips (one piece, the most pieces, the most bytes),
// and what the server must refuse: no piece, an empty one, too many, too many bytes, a range
// that overflows, bytes missing or left over.
#include <cstring>

#include "tools/codec_test.h"

namespace codec_test {

static bool samePieces(const WritePieces &a, const WritePieces &b) {
  if (!(a.objectId == b.objectId) || a.pieces.size() != b.pieces.size()) return false;
  for (size_t i = 0; i < a.pieces.size(); i++) {
    const WritePieces::Piece &x = a.pieces[i], &y = b.pieces[i];
    if (x.offset != y.offset || x.size != y.size || memcmp(x.data, y.data, x.size) != 0) return false;
  }
  return true;
}

void writePiecesCases() {
  static char bytes[EAGER_MAX];
  for (size_t i = 0; i < sizeof bytes; i++) bytes[i] = (char)(i * 7 + 1);
  WritePieces m;
  m.objectId.high = -1;
  m.objectId.low = 42;
  m.pieces.push_back({4096, 5, bytes});
  roundTrip<WritePieces>("OBJ_WRITE_PIECES, one piece", OBJ_WRITE_PIECES, m, 32 + 16 + 4 + 12 + 5,
                         [&](const WritePieces &o) { return samePieces(o, m); });
  m.pieces.clear();
  for (uint32_t i = 0; i < 8; i++) m.pieces.push_back({(uint64_t)i * 1000000, 4096, bytes + i * 4096});
  roundTrip<WritePieces>("OBJ_WRITE_PIECES, 8 pages (EAGER_MAX bytes)", OBJ_WRITE_PIECES, m, 32 + 16 + 4 + 8 * 12 + EAGER_MAX,
                         [&](const WritePieces &o) { return samePieces(o, m); });
  m.pieces.clear();
  for (uint32_t i = 0; i < WritePieces::MAX_PIECES; i++) m.pieces.push_back({(uint64_t)i * 3, 1, bytes + i});
  std::vector<char> enc = encode(OBJ_WRITE_PIECES, m);
  WritePieces t;
  expect(decode(enc, enc.size(), t) && samePieces(t, m), "OBJ_WRITE_PIECES: MAX_PIECES pieces accepted");
  m.pieces.push_back({999, 1, bytes});
  enc = encode(OBJ_WRITE_PIECES, m);
  expect(!decode(enc, enc.size(), t), "OBJ_WRITE_PIECES: more than MAX_PIECES rejected");
  m.pieces.clear();
  enc = encode(OBJ_WRITE_PIECES, m);
  expect(!decode(enc, enc.size(), t), "OBJ_WRITE_PIECES: no piece rejected");
  m.pieces = {{0, 4096, bytes}, {8192, 0, bytes}};
  enc = encode(OBJ_WRITE_PIECES, m);
  expect(!decode(enc, enc.size(), t), "OBJ_WRITE_PIECES: an empty piece rejected");
  m.pieces = {{~0ull - 2, 5, bytes}};
  enc = encode(OBJ_WRITE_PIECES, m);
  expect(!decode(enc, enc.size(), t), "OBJ_WRITE_PIECES: a piece whose range overflows rejected");
  // More than EAGER_MAX bytes in all: encoded by hand (the sizes say more than the data holds).
  m.pieces = {{0, (uint32_t)EAGER_MAX, bytes}, {EAGER_MAX, 1, bytes}};
  std::vector<char> big(Header::WIRE_SIZE + 16 + 4 + 2 * 12 + EAGER_MAX + 1);
  Writer w(big.data(), big.size());
  ioc::tools::headerOf(OBJ_WRITE_PIECES, 7, 8, 9).encode(w);
  m.encode(w);
  expect(w.ok() && !decode(big, big.size(), t), "OBJ_WRITE_PIECES: more than EAGER_MAX bytes rejected");
}

}  // namespace codec_test
