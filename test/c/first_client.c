/* The first client of a freshly started server (the original numbers its clients from 0, so
 * this one has TCP client id 0): ping, write and read on that first connection.
 * usage: first_client IP PORT. Prints "first client ok" and exits 0 on success. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iocatcher-client.h"

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  ioc_client_t *c = ioc_client_init(argv[1], argv[2]);
  if (!c) {
    fprintf(stderr, "ioc_client_init: %s\n", strerror(errno));
    return 1;
  }
  int p = ioc_client_ping_rounds(c, 3, 16, 64 * 1024); /* ioc_client_ping_pong, with its result */
  if (p != 0) {
    fprintf(stderr, "ping: %d\n", p);
    return 1;
  }
  size_t sizes[] = {4096, 1 << 20};
  for (int i = 0; i < 2; i++) {
    size_t size = sizes[i];
    char *out = malloc(size), *in = calloc(1, size);
    for (size_t j = 0; j < size; j++) out[j] = (char)(j * 13 + i);
    ssize_t w = ioc_client_obj_write(c, 0xf1, i, out, size, 0);
    ssize_t r = ioc_client_obj_read(c, 0xf1, i, in, size, 0);
    if (w != (ssize_t)size || r != (ssize_t)size || memcmp(in, out, size) != 0) {
      fprintf(stderr, "size %zu: write %zd, read %zd, %s\n", size, w, r, memcmp(in, out, size) ? "mismatch" : "same");
      return 1;
    }
    free(out);
    free(in);
  }
  ioc_client_fini(c);
  printf("first client ok\n");
  return 0;
}
