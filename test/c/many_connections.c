/* For test/integrity-loop.test.ts (issue 11, item 13): THREADS threads of one client handle
 * (one libfabric connection each) each do COUNT pings and a 4 KiB write + read-back of their own
 * object. Exits 0 when every call succeeded with the right data, else prints why and exits 1;
 * prints the slowest call (information only).  usage: many_connections IP PORT THREADS COUNT ID */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iocatcher-client.h"

static ioc_client_t *client;
static int count, failed;
static long id;
static double worst;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static void note(double took, const char *failure) {
  pthread_mutex_lock(&mu);
  if (took > worst) worst = took;
  if (failure) {
    failed++;
    fprintf(stderr, "many_connections %ld: %s\n", id, failure);
  }
  pthread_mutex_unlock(&mu);
}

static void *run(void *arg) {
  long n = (long)arg;
  char out[4096], in[4096];
  for (int i = 0; i < 4096; i++) out[i] = (char)(i * 7 + n + id);
  for (int i = 0; i < count; i++) {
    double t = now();
    int r = ioc_client_ping(client, 0);
    note(now() - t, r < 0 ? "ping failed" : NULL);
  }
  double t = now();
  ssize_t w = ioc_client_obj_write(client, 5151, id * 100 + n, out, sizeof out, 0);
  ssize_t r = ioc_client_obj_read(client, 5151, id * 100 + n, in, sizeof in, 0);
  note(now() - t, w != sizeof out || r != sizeof in ? "write/read failed" : memcmp(in, out, sizeof in) ? "wrong data" : NULL);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: many_connections IP PORT THREADS COUNT ID\n");
    return 2;
  }
  int threads = atoi(argv[3]);
  count = atoi(argv[4]);
  id = atol(argv[5]);
  double t = now();
  client = ioc_client_init(argv[1], argv[2]);
  if (!client) {
    fprintf(stderr, "many_connections %ld: cannot connect\n", id);
    return 1;
  }
  pthread_t tids[64];
  for (long i = 0; i < threads && i < 64; i++) pthread_create(&tids[i], NULL, run, (void *)i);
  for (long i = 0; i < threads && i < 64; i++) pthread_join(tids[i], NULL);
  printf("id=%ld failed=%d worst_call_ms=%.1f total_ms=%.1f\n", id, failed, worst * 1e3, (now() - t) * 1e3);
  ioc_client_fini(client);
  return failed ? 1 : 0;
}
