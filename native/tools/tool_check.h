// The native unit tests' check (router_test, worker_pool_test): counts, and prints each failure
// with its place; the test's main prints the totals and fails when any check did.
#pragma once

#include <cstdio>

static int passed = 0, failed = 0;
#define CHECK(cond, ...)                              \
  do {                                                \
    if (cond) {                                       \
      passed++;                                       \
    } else {                                          \
      failed++;                                       \
      std::printf("FAIL %s:%d: ", __FILE__, __LINE__); \
      std::printf(__VA_ARGS__);                       \
      std::printf("\n");                              \
    }                                                 \
  } while (0)
