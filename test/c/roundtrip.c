/* Core round trip through the C API, compiled against include/iocatcher-client.h and
 * libiocatcher-client.so by the test suite. Usage: roundtrip IP PORT. Exit 0 on success. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iocatcher-client.h"
#include "check.h"


static int roundtrip(ioc_client_t *c, size_t size, size_t offset, int64_t low) {
  char *out = malloc(size), *in = malloc(size);
  for (size_t i = 0; i < size; i++) out[i] = (char)(i * 7 + low);
  ssize_t w = ioc_client_obj_write(c, 77, low, out, size, offset);
  CHECK(w == (ssize_t)size, "write %zu returned %zd", size, w);
  memset(in, 0, size);
  ssize_t r = ioc_client_obj_read(c, 77, low, in, size, offset);
  CHECK(r == (ssize_t)size, "read %zu returned %zd", size, r);
  CHECK(memcmp(in, out, size) == 0, "data mismatch at size %zu", size);
  free(out);
  free(in);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  CHECK(ioc_client_init("127.0.0.1", "1") == NULL, "init on a closed port must fail");
  ioc_client_t *c = ioc_client_init(argv[1], argv[2]);
  CHECK(c != NULL, "ioc_client_init: %s", strerror(errno));
  printf("provider: %s\n", ioc_client_provider_name(c));
  CHECK(ioc_client_obj_create(c, 77, 1) == 0, "create");
  if (roundtrip(c, 1, 3, 1)) return 1;
  if (roundtrip(c, 4096, 0, 2)) return 1;
  if (roundtrip(c, 32 * 1024 + 1, 5, 3)) return 1;
  if (roundtrip(c, 8 << 20, 12345, 4)) return 1;
  CHECK(ioc_client_obj_flush(c, 77, 4, 0, 0) == 0, "flush");
  int32_t id = ioc_client_obj_range_register(c, 77, 1, 0, 100, true);
  CHECK(id >= 1, "range register returned %d", id);
  CHECK(ioc_client_obj_range_register(c, 77, 1, 50, 10, false) < 0, "conflicting register must fail");
  CHECK(ioc_client_obj_range_unregister(c, id, 77, 1, 0, 100, true) == 0, "unregister");
  CHECK(ioc_client_obj_cow(c, 77, 2, 77, 5, false, 0, 0) == 0, "cow");
  CHECK(ioc_client_obj_cow(c, 77, 2, 77, 5, false, 0, 0) == -EEXIST, "cow onto an existing object");
  CHECK(ioc_client_obj_read(c, 77, 1, NULL, 10, 0) == -EINVAL, "NULL buffer must be -EINVAL");
  ioc_client_fini(c);
  printf("c roundtrip ok\n");
  return 0;
}
