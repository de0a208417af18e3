/* For test/c-api-compat.test.ts (issue 13): a program that declares the handle as ummap-io-v2's
 * public header does, before our header, builds (redundant identical typedef, no conflicting
 * types) and runs: ioc_client_ping_pong with eager and RMA sizes, then a write + read back.
 * Prints "pings=N" (PINGs sent, for the server's count) and "c header compat ok".
 * usage: header_compat IP PORT */
typedef struct ioc_client_s ioc_client_t; /* the line of ummap-io-v2's ummap.h */
#include "iocatcher-client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void check(const char *what, long got, long want) {
  if (got == want) return;
  failures++;
  fprintf(stderr, "header_compat: %s: got %ld, expected %ld\n", what, got, want);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: header_compat IP PORT\n");
    return 2;
  }
  ioc_client_t *client = ioc_client_init(argv[1], argv[2]);
  if (!client) {
    fprintf(stderr, "header_compat: cannot connect: %s\n", strerror(errno));
    return 1;
  }
  /* {cnt, eager, rdma}: no data, eager only (up to the 32 KiB limit), RMA only, both. */
  static const struct { int cnt; size_t eager, rdma; } rounds[] = {
      {5, 0, 0}, {3, 1000, 0}, {2, 32768, 0}, {3, 0, 1 << 20}, {2, 100, 64 << 10}, {1, 32768, 8 << 20},
  };
  int pings = 0;
  for (size_t i = 0; i < sizeof rounds / sizeof rounds[0]; i++) {
    char what[96];
    snprintf(what, sizeof what, "ping_pong(%d, %zu, %zu) errno", rounds[i].cnt, rounds[i].eager, rounds[i].rdma);
    errno = EINTR; /* must be reset by a success */
    ioc_client_ping_pong(client, rounds[i].cnt, rounds[i].eager, rounds[i].rdma);
    check(what, errno, 0);
    pings += rounds[i].cnt;
  }
  check("ping_rounds(2, 10, 4096)", ioc_client_ping_rounds(client, 2, 10, 4096), 0);
  pings += 2;
  /* Bad input: an inline part beyond 32 KiB, a negative count, no client. */
  ioc_client_ping_pong(client, 1, 32769, 0);
  check("ping_pong eager 32769 errno", errno, EINVAL);
  ioc_client_ping_pong(client, -1, 0, 0);
  check("ping_pong cnt -1 errno", errno, EINVAL);
  ioc_client_ping_pong(NULL, 1, 0, 0);
  check("ping_pong NULL errno", errno, EINVAL);
  check("ping_rounds eager 32769", ioc_client_ping_rounds(client, 1, 32769, 0), -EINVAL);
  check("ping_rounds rdma SIZE_MAX", ioc_client_ping_rounds(client, 1, 0, (size_t)-1), -ENOMEM);

  char out[5000], in[5000];
  for (size_t i = 0; i < sizeof out; i++) out[i] = (char)(i * 31 + 7);
  check("write", (long)ioc_client_obj_write(client, 1313, 1, out, sizeof out, 3), (long)sizeof out);
  check("read", (long)ioc_client_obj_read(client, 1313, 1, in, sizeof in, 3), (long)sizeof in);
  check("read bytes", memcmp(in, out, sizeof in) == 0, 1);
  ioc_client_fini(client);
  printf("pings=%d\n", pings);
  if (failures) return 1;
  printf("c header compat ok\n");
  return 0;
}
