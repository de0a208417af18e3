/* Load for test/integrity-loop.test.ts: THREADS threads of one client handle (one libfabric
 * connection each) read (mode r) or write and read in turn (mode rw) SIZE bytes in a loop until
 * killed; prints "ready" once each has done a call. Errors are reported, not fatal (the server
 * may go away under it).  usage: load_loop IP PORT SIZE THREADS r|rw */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iocatcher-client.h"

static ioc_client_t *client;
static size_t size;
static int threads, started, writes;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void *loop(void *arg) {
  long n = (long)arg;
  char *buf = malloc(size);
  memset(buf, 0x5a, size);
  if (ioc_client_obj_write(client, 4343, n, buf, size, 0) < 0) fprintf(stderr, "write failed\n");
  for (long i = 0;; i++) {
    ssize_t r = writes && i % 2 ? ioc_client_obj_write(client, 4343, n, buf, size, 0)
                                : ioc_client_obj_read(client, 4343, n, buf, size, 0);
    if (r < 0) {
      fprintf(stderr, "call failed: %zd\n", r);
      usleep(10000);
    }
    if (i == 0) {
      pthread_mutex_lock(&mu);
      if (++started == threads) {
        printf("ready\n");
        fflush(stdout);
      }
      pthread_mutex_unlock(&mu);
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 6) return 2;
  writes = strcmp(argv[5], "rw") == 0;
  size = strtoull(argv[3], NULL, 10);
  threads = atoi(argv[4]);
  client = ioc_client_init(argv[1], argv[2]);
  if (!client) return 1;
  pthread_t t[64];
  for (long i = 0; i < threads && i < 64; i++) pthread_create(&t[i], NULL, loop, (void *)i);
  for (long i = 0; i < threads && i < 64; i++) pthread_join(t[i], NULL);
  return 0;
}
