/* Reads of many objects with distinct contents through the C API: every read must return its
 * own object's bytes (a reply taken for another call's shows up as a mismatch). Usage:
 * distinct_reads IP PORT [OBJECTS] [ROUNDS]. Prints "reads=N mismatches=M errors=E"; exit 0
 * when every read was right. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iocatcher-client.h"

#define HIGH 0x64697374 /* "dist" */

/* Object i: eager (4 KiB) when i is even, RMA (40 KiB) when odd; bytes depend on i. */
static size_t sizeOf(int i) { return i % 2 ? 40 * 1024 : 4096; }
static void fill(char *buf, int i) {
  for (size_t k = 0; k < sizeOf(i); k++) buf[k] = (char)(k * 31 + i * 7 + 1);
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  int objects = argc > 3 ? atoi(argv[3]) : 16, rounds = argc > 4 ? atoi(argv[4]) : 8;
  ioc_client_t *c = ioc_client_init(argv[1], argv[2]);
  if (!c) {
    fprintf(stderr, "ioc_client_init: %s\n", strerror(errno));
    return 1;
  }
  char *want = malloc(40 * 1024), *got = malloc(40 * 1024);
  int errors = 0, mismatches = 0, reads = 0;
  for (int i = 0; i < objects; i++) {
    fill(want, i);
    ssize_t w = ioc_client_obj_write(c, HIGH, i, want, sizeOf(i), 0);
    if (w != (ssize_t)sizeOf(i)) {
      fprintf(stderr, "write %d returned %zd\n", i, w);
      errors++;
    }
  }
  for (int r = 0; r < rounds; r++) {
    for (int k = 0; k < objects; k++) {
      int i = (k * 7 + r) % objects; /* a different order each round */
      fill(want, i);
      memset(got, 0, sizeOf(i));
      ssize_t n = ioc_client_obj_read(c, HIGH, i, got, sizeOf(i), 0);
      reads++;
      if (n != (ssize_t)sizeOf(i)) {
        fprintf(stderr, "read %d returned %zd\n", i, n);
        errors++;
      } else if (memcmp(got, want, sizeOf(i)) != 0) {
        fprintf(stderr, "read %d: another object's bytes\n", i);
        mismatches++;
      }
    }
  }
  printf("reads=%d mismatches=%d errors=%d\n", reads, mismatches, errors);
  ioc_client_fini(c);
  free(want);
  free(got);
  return errors || mismatches ? 1 : 0;
}
