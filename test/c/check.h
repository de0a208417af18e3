/* The C tests' assertion: prints FAIL and the message, and makes the test's main return 1. */
#ifndef IOC_TEST_CHECK_H
#define IOC_TEST_CHECK_H

#include <stdio.h>

#define CHECK(cond, ...)                     \
  do {                                       \
    if (!(cond)) {                           \
      fprintf(stderr, "FAIL: " __VA_ARGS__); \
      fprintf(stderr, "\n");                 \
      return 1;                              \
    }                                        \
  } while (0)

#endif
