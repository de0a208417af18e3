/* ioc_client_obj_write_pieces through the C API: small pieces (gathered), one larger than an
 * eager message (an ordinary write), empty ones and unaligned ones, over one object; every byte
 * read back; bad arguments refused. Usage: write_pieces IP PORT LOW. Exit 0 on success. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iocatcher-client.h"
#include "check.h"

#define SIZE (4 << 20)
#define COUNT 300

int main(int argc, char **argv) {
  if (argc < 4) return 2;
  ioc_client_t *c = ioc_client_init(argv[1], argv[2]);
  CHECK(c != NULL, "ioc_client_init: %s", strerror(errno));
  int64_t low = atoll(argv[3]);
  char *expected = calloc(SIZE, 1), *data = malloc(SIZE), *back = malloc(SIZE);
  for (size_t i = 0; i < SIZE; i++) data[i] = (char)(i * 13 + 5);
  ioc_write_piece_t pieces[COUNT];
  size_t total = 0;
  /* Pieces of 1..6000 bytes every 13,000 bytes, one of 100 KiB in the middle, some empty. */
  for (int i = 0; i < COUNT; i++) {
    size_t offset = (size_t)i * 13000 + (size_t)(i % 7), size = i % 50 == 7 ? 0 : 1 + (size_t)(i * 37) % 6000;
    if (i == COUNT / 2) size = 100 << 10;
    pieces[i].buffer = data + offset;
    pieces[i].size = size;
    pieces[i].offset = offset;
    memcpy(expected + offset, data + offset, size);
    total += size;
  }
  ssize_t w = ioc_client_obj_write_pieces(c, 91, low, pieces, COUNT);
  CHECK(w == (ssize_t)total, "write_pieces returned %zd, not %zu", w, total);
  ssize_t r = ioc_client_obj_read(c, 91, low, back, SIZE, 0);
  CHECK(r == SIZE, "read returned %zd", r);
  for (size_t i = 0; i < SIZE; i++) CHECK(back[i] == expected[i], "byte %zu differs", i);
  CHECK(ioc_client_obj_write_pieces(c, 91, low, NULL, 0) == 0, "no pieces: 0");
  CHECK(ioc_client_obj_write_pieces(c, 91, low, NULL, 1) == -EINVAL, "NULL pieces: -EINVAL");
  ioc_write_piece_t bad = {NULL, 10, 0};
  CHECK(ioc_client_obj_write_pieces(c, 91, low, &bad, 1) == -EINVAL, "NULL buffer: -EINVAL");
  ioc_write_piece_t wrap = {data, 10, (size_t)-5};
  CHECK(ioc_client_obj_write_pieces(c, 91, low, &wrap, 1) == -EINVAL, "an overflowing range: -EINVAL");
  CHECK(ioc_client_obj_write_pieces(NULL, 91, low, pieces, 1) == -EINVAL, "no client: -EINVAL");
  ioc_client_fini(c);
  free(expected);
  free(data);
  free(back);
  printf("c write_pieces ok\n");
  return 0;
}
