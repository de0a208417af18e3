/* Load for test/server-death.test.ts: three threads of one client handle write and read 4 KiB
 * in a loop while the test kills and restarts the server under them. stdin: "mark" -> prints
 * "resumed" once calls succeed again after it; "stop" (or EOF) -> prints one summary line
 * "summary ok=N failed=N unexpected=N" and exits 0. Expected failures are the negative errno
 * values of a server that went away or a call that timed out; anything else counts as unexpected.
 * usage: call_loops IP PORT */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iocatcher-client.h"

#define SIZE 4096
static ioc_client_t *client;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long ok, failed, unexpected, markAt = -1;
static volatile int stopping;

static int expected(long r) {
  return r == -ECONNRESET || r == -ECONNREFUSED || r == -ETIMEDOUT || r == -EPIPE || r == -ENOTCONN || r == -EIO ||
         r == -EHOSTUNREACH || r == -ECONNABORTED;
}

static void count(long r) {
  pthread_mutex_lock(&mu);
  if (r == SIZE) {
    ok++;
    if (markAt >= 0 && ok >= markAt + 6) {
      markAt = -1;
      printf("resumed\n");
      fflush(stdout);
    }
  } else {
    failed++;
    if (!expected(r)) {
      unexpected++;
      fprintf(stderr, "call_loops: unexpected result %ld\n", r);
    }
  }
  pthread_mutex_unlock(&mu);
  if (r != SIZE) usleep(5000); /* a down server fails fast: do not spin on it */
}

static void *loop(void *arg) {
  long n = (long)arg;
  char *buf = malloc(SIZE);
  memset(buf, (int)n + 1, SIZE);
  while (!stopping) {
    long r = ioc_client_obj_write(client, 0xdea7, 10 + n, buf, SIZE, 0);
    if (r == SIZE) r = ioc_client_obj_read(client, 0xdea7, 10 + n, buf, SIZE, 0);
    count(r);
  }
  free(buf);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  client = ioc_client_init(argv[1], argv[2]);
  if (!client) return 1;
  ioc_client_set_timeout(client, 3000);
  pthread_t t[3];
  for (long i = 0; i < 3; i++) pthread_create(&t[i], NULL, loop, (void *)i);
  char line[64];
  while (fgets(line, sizeof line, stdin)) {
    if (strncmp(line, "mark", 4) == 0) {
      pthread_mutex_lock(&mu);
      markAt = ok;
      pthread_mutex_unlock(&mu);
    }
    if (strncmp(line, "stop", 4) == 0) break;
  }
  stopping = 1;
  for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
  printf("summary ok=%ld failed=%ld unexpected=%ld\n", ok, failed, unexpected);
  ioc_client_fini(client);
  return 0;
}
