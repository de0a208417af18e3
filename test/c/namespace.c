/* The object namespace through the C API: stat, list, delete and ioc_client_last_error.
 * Usage: namespace SERVERS HIGH full    -> objects HIGH:1..12 written, stat, listed, deleted
 *        namespace SERVERS HIGH refused -> every namespace call is -ENOSYS; prints the reasons
 *        namespace SERVERS HIGH efbig   -> a read at 2 MiB is -EFBIG; prints the server's reason
 * SERVERS is "host:port[,host:port...]". Exit 0 on success. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iocatcher-client.h"
#include "check.h"


enum { OBJECTS = 12 };

/* Lists objects HIGH:* into seen[low] (counts), max entries per call; returns the total or -1. */
static int listAll(ioc_client_t *c, int64_t high, size_t max, int *seen) {
  ioc_obj_list_t *l = ioc_client_obj_list_open(c, true, high);
  CHECK(l != NULL, "list_open: %s", strerror(errno));
  ioc_obj_stat_t e[16];
  int total = 0;
  ssize_t n;
  while ((n = ioc_client_obj_list(l, e, max)) > 0) {
    CHECK((size_t)n <= max, "list returned %zd entries, more than the %zu asked", n, max);
    for (ssize_t i = 0; i < n; i++) {
      CHECK(e[i].high == high, "an entry of high %lld in a listing of %lld", (long long)e[i].high, (long long)high);
      CHECK(e[i].low >= 1 && e[i].low <= OBJECTS, "unexpected object %lld:%lld", (long long)high, (long long)e[i].low);
      CHECK(e[i].size == (uint64_t)(1000 * e[i].low), "listed size %llu of object %lld", (unsigned long long)e[i].size,
            (long long)e[i].low);
      seen[e[i].low]++;
      total++;
    }
  }
  CHECK(n == 0, "list: %zd (%s)", n, ioc_client_last_error(c));
  CHECK(ioc_client_obj_list(l, e, max) == 0, "a complete listing stays complete");
  CHECK(ioc_client_obj_list(l, e, 0) == -EINVAL, "max 0 is -EINVAL");
  ioc_client_obj_list_close(l);
  return total;
}

static int full(ioc_client_t *c, int64_t high) {
  char buf[OBJECTS * 1000];
  memset(buf, 0x5a, sizeof buf);
  for (int64_t low = 1; low <= OBJECTS; low++) {
    ssize_t w = ioc_client_obj_write(c, high, low, buf, (size_t)(1000 * low), 0);
    CHECK(w == 1000 * low, "write of object %lld: %zd", (long long)low, w);
  }
  CHECK(ioc_client_obj_flush(c, high, 2, 0, 0) == 0, "flush");

  ioc_obj_stat_t st;
  memset(&st, 0xff, sizeof st);
  CHECK(ioc_client_obj_stat(c, high, 3, &st) == 0, "stat: %s", ioc_client_last_error(c));
  CHECK(st.high == high && st.low == 3 && st.size == 3000, "stat of 3: %lld:%lld size %llu", (long long)st.high,
        (long long)st.low, (unsigned long long)st.size);
  CHECK(st.cached_bytes > 0 && st.dirty_bytes > 0 && !st.stored && st.stored_bytes == 0,
        "stat of unflushed 3: cached %llu dirty %llu stored %d/%llu", (unsigned long long)st.cached_bytes,
        (unsigned long long)st.dirty_bytes, st.stored, (unsigned long long)st.stored_bytes);
  CHECK(ioc_client_obj_stat(c, high, 2, &st) == 0 && st.stored && st.stored_bytes == 2000 && st.dirty_bytes == 0,
        "stat of flushed 2: stored %d/%llu dirty %llu", st.stored, (unsigned long long)st.stored_bytes,
        (unsigned long long)st.dirty_bytes);
  CHECK(ioc_client_obj_stat(c, high, 999, &st) == -ENOENT, "stat of an absent object is -ENOENT");
  CHECK(ioc_client_obj_stat(c, high, 1, NULL) == -EINVAL, "NULL out is -EINVAL");
  CHECK(strcmp(ioc_client_last_error(c), "") == 0, "no reason after -EINVAL: '%s'", ioc_client_last_error(c));

  for (size_t max = 1; max <= 16; max += 5) {
    int seen[OBJECTS + 1] = {0};
    int total = listAll(c, high, max, seen);
    if (total < 0) return 1;
    CHECK(total == OBJECTS, "listed %d objects with max %zu", total, max);
    for (int low = 1; low <= OBJECTS; low++) CHECK(seen[low] == 1, "object %d listed %d times", low, seen[low]);
  }

  int32_t id = ioc_client_obj_range_register(c, high, 5, 0, 4096, false);
  CHECK(id >= 1, "range register: %d", id);
  CHECK(ioc_client_obj_delete(c, high, 5) == -EBUSY, "delete while a range is registered is -EBUSY");
  printf("busy reason: %s\n", ioc_client_last_error(c));
  CHECK(ioc_client_obj_range_unregister(c, id, high, 5, 0, 4096, false) == 0, "unregister");
  CHECK(ioc_client_obj_delete(c, high, 5) == 0, "delete: %s", ioc_client_last_error(c));
  CHECK(ioc_client_obj_delete(c, high, 2) == 0, "delete of a stored object: %s", ioc_client_last_error(c));
  CHECK(ioc_client_obj_stat(c, high, 5, &st) == -ENOENT, "stat after delete is -ENOENT");
  CHECK(ioc_client_obj_stat(c, high, 2, &st) == -ENOENT, "stat of the deleted stored object is -ENOENT");
  CHECK(ioc_client_obj_delete(c, high, 5) == -ENOENT, "delete of a deleted object is -ENOENT");

  int seen[OBJECTS + 1] = {0};
  int total = listAll(c, high, 4, seen);
  CHECK(total == OBJECTS - 2 && seen[5] == 0 && seen[2] == 0, "after the deletes: %d listed", total);
  /* Its stored copy is gone too: the object reads as zeros. */
  char back[16];
  CHECK(ioc_client_obj_read(c, high, 2, back, sizeof back, 0) == (ssize_t)sizeof back, "read of the deleted object");
  for (size_t i = 0; i < sizeof back; i++) CHECK(back[i] == 0, "a deleted object reads as zeros");
  return 0;
}

static int refused(ioc_client_t *c, int64_t high) {
  ioc_obj_stat_t st;
  CHECK(ioc_client_obj_stat(c, high, 1, &st) == -ENOSYS, "stat must be -ENOSYS");
  printf("stat: %s\n", ioc_client_last_error(c));
  CHECK(ioc_client_obj_delete(c, high, 1) == -ENOSYS, "delete must be -ENOSYS");
  printf("delete: %s\n", ioc_client_last_error(c));
  ioc_obj_list_t *l = ioc_client_obj_list_open(c, false, 0);
  CHECK(l != NULL, "list_open");
  ioc_obj_stat_t e[4];
  CHECK(ioc_client_obj_list(l, e, 4) == -ENOSYS, "list must be -ENOSYS");
  printf("list: %s\n", ioc_client_last_error(c));
  ioc_client_obj_list_close(l);
  /* Other calls still work, and a success clears the reason. */
  CHECK(ioc_client_obj_write(c, high, 1, "x", 1, 0) == 1, "write");
  CHECK(strcmp(ioc_client_last_error(c), "") == 0, "a success leaves no reason");
  return 0;
}

static int efbig(ioc_client_t *c, int64_t high) {
  char buf[16];
  ssize_t r = ioc_client_obj_read(c, high, 1, buf, sizeof buf, 2 << 20);
  CHECK(r == -EFBIG, "read past --max-object-size: %zd", r);
  printf("reason: %s\n", ioc_client_last_error(c));
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 4) return 2;
  ioc_client_t *c = ioc_client_init(argv[1], NULL);
  CHECK(c != NULL, "ioc_client_init: %s", strerror(errno));
  CHECK(strcmp(ioc_client_last_error(c), "") == 0, "no reason before any call");
  CHECK(ioc_client_obj_list_open(NULL, false, 0) == NULL && errno == EINVAL, "list_open(NULL) is EINVAL");
  int64_t high = strtoll(argv[2], NULL, 0);
  int ret = strcmp(argv[3], "full") == 0 ? full(c, high) : strcmp(argv[3], "efbig") == 0 ? efbig(c, high) : refused(c, high);
  ioc_client_fini(c);
  if (ret == 0) printf("c namespace ok\n");
  return ret;
}
