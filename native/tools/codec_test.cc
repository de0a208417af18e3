// Unit test of the wire codec (native/fabric/protocol.*): every message type round-trips with
// the exact v2 layout; truncated, oversized and trailing-garbage messages are rejected. The
// checks: codec_test.h; the cases: codec_test_messages.cc, codec_test_trailer.cc,
// codec_test_namespace.cc. Prints one line per case and "N passed, M failed".
#include <cstdio>

#include "tools/codec_test.h"

namespace codec_test {
int passed = 0, failed = 0;
}

int main() {
  using namespace codec_test;
  messageCases();
  requestTrailerCases();
  namespaceCases();
  writePiecesCases();
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
