/* For test/c-api-compat.test.ts (issue 13): ranges belong to the client handle, not to the
 * pooled connection that registered them. Run against a server with
 * the failpoint server.hold_writes_until_unregisters=value(4) (RMA write replies wait for 4 range unregisters), so
 * that writes hold connections as long as the test needs, without sleeps:
 *   1. 3 writer threads start 8 MiB writes (held); prints "phase1" and waits for a line on stdin
 *      (the harness sends it once the server logged 3 held writes).
 *   2. 4 threads each register a write range A_i and a range B_i that is never unregistered.
 *   3. 4 more writers start (held): they take every connection the registrations used, 7 in all.
 *      Prints "phase3", waits for stdin (7 held writes).
 *   4. 4 new threads: thread i unregisters A_(i+1)%4, which goes over the 8th connection, one
 *      that registered nothing; then registers a range C_i (never unregistered) there.
 *   The writes are then released; each must have written 8 MiB, and one is read back.
 * Prints "ok ..." and waits for stdin (the harness SIGKILLs it: its B and C ranges must be
 * released by the server).  usage: shared_ranges IP PORT HIGH */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iocatcher-client.h"

#define WRITERS1 3
#define WRITERS2 4
#define RANGES 4
#define WRITE_SIZE (8u << 20)

static ioc_client_t *client;
static int64_t high;
static int failures;
static int32_t idsA[RANGES];
static char *buffers[WRITERS1 + WRITERS2];
static ssize_t written[WRITERS1 + WRITERS2];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void fail(const char *what, long i, long ret) {
  pthread_mutex_lock(&mu);
  failures++;
  fprintf(stderr, "shared_ranges: %s %ld: %ld (%s)\n", what, i, ret, ret < 0 ? strerror((int)-ret) : "unexpected");
  pthread_mutex_unlock(&mu);
}

static void *writer(void *arg) {
  long i = (long)arg;
  written[i] = ioc_client_obj_write(client, high, 100 + i, buffers[i], WRITE_SIZE, 0);
  return NULL;
}

static void *registerRanges(void *arg) {
  long i = (long)arg;
  idsA[i] = ioc_client_obj_range_register(client, high, 1, i * 4096, 4096, true);
  if (idsA[i] < 1) fail("register A", i, idsA[i]);
  int32_t b = ioc_client_obj_range_register(client, high, 2, i * 4096, 4096, true);
  if (b < 1) fail("register B", i, b);
  return NULL;
}

static void *unregisterOther(void *arg) {
  long i = (long)arg, j = (i + 1) % RANGES;
  int ret = ioc_client_obj_range_unregister(client, idsA[j], high, 1, j * 4096, 4096, true);
  if (ret != 0) fail("unregister A", j, ret);
  int32_t c = ioc_client_obj_range_register(client, high, 3, i * 4096, 4096, true);
  if (c < 1) fail("register C", i, c);
  return NULL;
}

static void waitLine(const char *say) {
  char line[64];
  printf("%s\n", say);
  fflush(stdout);
  if (!fgets(line, sizeof line, stdin)) exit(3);
}

static void runAll(void *(*fn)(void *), long from, long count, pthread_t *tids) {
  for (long i = 0; i < count; i++)
    if (pthread_create(&tids[i], NULL, fn, (void *)(from + i)) != 0) {
      fprintf(stderr, "shared_ranges: pthread_create failed\n");
      exit(1);
    }
}

static void joinAll(pthread_t *tids, long count) {
  for (long i = 0; i < count; i++) pthread_join(tids[i], NULL);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: shared_ranges IP PORT HIGH\n");
    return 2;
  }
  high = atoll(argv[3]);
  client = ioc_client_init(argv[1], argv[2]);
  if (!client) {
    fprintf(stderr, "shared_ranges: cannot connect: %s\n", strerror(errno));
    return 1;
  }
  for (int i = 0; i < WRITERS1 + WRITERS2; i++) {
    buffers[i] = malloc(WRITE_SIZE);
    if (!buffers[i]) return 1;
    memset(buffers[i], 'a' + i, WRITE_SIZE);
  }
  pthread_t w1[WRITERS1], w2[WRITERS2], reg[RANGES], unreg[RANGES];
  runAll(writer, 0, WRITERS1, w1);
  waitLine("phase1");
  runAll(registerRanges, 0, RANGES, reg);
  joinAll(reg, RANGES);
  runAll(writer, WRITERS1, WRITERS2, w2);
  waitLine("phase3");
  runAll(unregisterOther, 0, RANGES, unreg);
  joinAll(unreg, RANGES);
  joinAll(w1, WRITERS1);
  joinAll(w2, WRITERS2);
  for (long i = 0; i < WRITERS1 + WRITERS2; i++)
    if (written[i] != (ssize_t)WRITE_SIZE) fail("write", i, written[i]);
  /* The last writer's bytes, back from the server. */
  char *back = malloc(WRITE_SIZE);
  long last = WRITERS1 + WRITERS2 - 1;
  ssize_t r = back ? ioc_client_obj_read(client, high, 100 + last, back, WRITE_SIZE, 0) : -ENOMEM;
  if (r != (ssize_t)WRITE_SIZE || memcmp(back, buffers[last], WRITE_SIZE) != 0) fail("read back", last, r);
  free(back);
  printf("ok failures=%d unregistered=%d\n", failures, RANGES);
  fflush(stdout);
  if (failures) return 1;
  waitLine("waiting");  /* the harness kills us here: B_i and C_i stay registered */
  ioc_client_fini(client);
  return 0;
}
