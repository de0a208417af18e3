// Server test hooks: environment variables (IOC_TEST_*) that make a race happen on purpose,
// read once. Tests drive races with these, never with sleeps.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>

namespace ioc {
namespace server {

// IOC_TEST_SIGTERM_AT_RMA=N: once N RMA operations have been posted, the server sends itself
// SIGTERM, so that a shutdown starts with transfers in flight (test/integrity-loop.test.ts).
inline void countRmaPostsForSigtermHook(size_t posted) {
  static const long at = getenv("IOC_TEST_SIGTERM_AT_RMA") ? atol(getenv("IOC_TEST_SIGTERM_AT_RMA")) : 0;
  static std::atomic<long> total{0};
  if (at <= 0 || posted == 0) return;
  long before = total.fetch_add((long)posted);
  if (before < at && before + (long)posted >= at) kill(getpid(), SIGTERM);
}

// IOC_TEST_COW_KILL_AFTER_BYTES=N: the daemon SIGKILLs itself once a whole-object copy
// (DirectoryStore::copy) has written N bytes, to show that a crash mid-copy leaves the
// destination intact (test/integrity-store.test.ts). 0: off.
inline uint64_t cowKillAfterBytes() {
  static const uint64_t n =
      getenv("IOC_TEST_COW_KILL_AFTER_BYTES") ? strtoull(getenv("IOC_TEST_COW_KILL_AFTER_BYTES"), nullptr, 10) : 0;
  return n;
}

// IOC_TEST_DELAY_WRITE_RMA_MS=N: once a client write larger than 32 KiB is accepted (its
// deadline checked, its segments taken), the server logs it and waits N ms before posting its
// RMA, so that a test can cut the network off in between (test/partition.test.ts). 0: off.
inline int delayWriteRmaMs() {
  static const int ms = getenv("IOC_TEST_DELAY_WRITE_RMA_MS") ? atoi(getenv("IOC_TEST_DELAY_WRITE_RMA_MS")) : 0;
  return ms;
}

}  // namespace server
}  // namespace ioc
