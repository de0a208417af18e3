/*
 * iocatcher client C API (protocol v2). Same signatures as the original iocatcher client.
 *
 * Error convention: every call that can fail returns a negative errno-style value
 * (-EINVAL, -ECONNRESET, -EBUSY, -ETIMEDOUT, ...). ioc_client_init returns NULL on failure
 * and never exits the process. All calls are thread-safe: concurrent callers use separate
 * connections to the server (up to IOC_CLIENT_MAX_CONNECTIONS at once).
 */
#ifndef IOCATCHER_CLIENT_H
#define IOCATCHER_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IOC_CLIENT_MAX_CONNECTIONS 8

/* The struct tag is the original's (and ummap-io-v2's public header repeats this exact line): a
 * program may include both headers, or declare the handle itself, with no conflicting types. */
typedef struct ioc_client_s ioc_client_t;

/* Connect to the server listening on ip:port (libfabric port; the TCP side channel is port+1).
 * port may be NULL for the default "8556". Returns NULL on failure (errno is set).
 * Several servers: ip is a list "host:port,host:port" (entries without ":port" take port). Each
 * object then lives on one of them, chosen by rendezvous hashing of its id (docs/operations.md), so
 * that every client agrees. Reads (and read range registrations) of an object whose server cannot
 * be reached go to the next server in rendezvous order; other calls fail with -ECONNREFUSED or
 * -ECONNRESET. init succeeds when at least one server is reachable. */
ioc_client_t * ioc_client_init(const char * ip, const char * port);
/* Close every connection and free the client. NULL is accepted. */
void ioc_client_fini(ioc_client_t * client);

/* Read/write size bytes at offset of object (high, low). No alignment is needed.
 * Return the number of bytes transferred, or a negative errno-style value. */
ssize_t ioc_client_obj_read(ioc_client_t * client, int64_t high, int64_t low, void * buffer, size_t size, size_t offset);
ssize_t ioc_client_obj_write(ioc_client_t * client, int64_t high, int64_t low, const void * buffer, size_t size, size_t offset);

/* Extension: several writes of one object at once, e.g. a checkpoint's scattered dirty pages.
 * To a server of ours, pieces of at most 32 KiB travel together, up to 32 KiB of data and 256
 * pieces per message, each applied as its own write would be (larger pieces go as ordinary
 * writes); to another server, one write each. Returns the bytes written (the sum of the sizes)
 * or a negative errno-style value (-EINVAL: a NULL buffer or an overflowing range). After a
 * failure any of the pieces may or may not have landed: write them again. */
typedef struct ioc_write_piece_s {
  const void * buffer;
  size_t size;
  size_t offset;
} ioc_write_piece_t;
ssize_t ioc_client_obj_write_pieces(ioc_client_t * client, int64_t high, int64_t low, const ioc_write_piece_t * pieces, size_t count);

/* Write back the dirty cached segments overlapping [offset, offset+size) to the backing store;
 * size 0 means the whole object. 0 or a negative errno-style value. */
int ioc_client_obj_flush(ioc_client_t * client, int64_t high, int64_t low, uint64_t offset, uint64_t size);
/* Create the object in the backing store. 0 or a negative errno-style value. */
int ioc_client_obj_create(ioc_client_t * client, int64_t high, int64_t low);
/* Copy-on-write copy of an object (size 0: whole object) or of the range [offset, offset+size).
 * Fails with -ENOENT when the source is unknown, -EEXIST when dest exists and !allow_exist. */
int ioc_client_obj_cow(ioc_client_t * client, int64_t orig_high, int64_t orig_low, int64_t dest_high, int64_t dest_low, bool allow_exist, size_t offset, size_t size);

/* Register a mapping range. Returns an id >= 1, or a negative value (-EBUSY on conflict:
 * an overlap where either registration is a write one). */
int32_t ioc_client_obj_range_register(ioc_client_t * client, int64_t high, int64_t low, size_t offset, size_t size, bool write);
/* Unregister; every argument must match the registration exactly. 0 or negative (-ENOENT). */
int ioc_client_obj_range_unregister(ioc_client_t * client, int32_t id, int64_t high, int64_t low, size_t offset, size_t size, bool write);

/* Start epoch of the server that owns object (high, low), as its latest handshake said: random
 * per server start (a new value means the server restarted), 0 when unknown (an original server
 * sends none). *durable (may be NULL): whether that server keeps acknowledged writes across a
 * restart (--nvdimm); without, what it acknowledged before a restart may be lost. */
uint64_t ioc_client_server_epoch(ioc_client_t * client, int64_t high, int64_t low, int * durable);

/* Name of the libfabric provider in use, e.g. "tcp;ofi_rxm". Owned by the client. */
const char * ioc_client_provider_name(ioc_client_t * client);
/* true (default): block in the completion queue; false: busy-poll it (lower latency, one core). */
void ioc_client_set_passive_wait(ioc_client_t * client, bool value);

/* cnt PING/PONG round trips with every server, each PING carrying eagerSize (<= 32 KiB) inline
 * bytes and offering rdmaSize bytes that the server reads by RMA. Like the original it returns
 * nothing; errno is 0 after success, else the first error (EINVAL, ECONNRESET, ...). */
void ioc_client_ping_pong(ioc_client_t *client, int cnt, size_t eagerSize, size_t rdmaSize);

/* Extensions (not in the original API). */
/* ioc_client_ping_pong with its result: 0 or a negative errno-style value. */
int ioc_client_ping_rounds(ioc_client_t * client, int cnt, size_t eager_size, size_t rdma_size);
/* Round trip of a PING carrying eager_size inline bytes; 0 or negative. */
int ioc_client_ping(ioc_client_t * client, size_t eager_size);
/* Per-call timeout in milliseconds (default 30000; 0 = wait forever). */
void ioc_client_set_timeout(ioc_client_t * client, unsigned int timeout_ms);
/* The servers of the client, in the order given, as "host:port"; count, name (owned by the
 * client, NULL when index is out of range), and the index of the server that owns an object. */
int ioc_client_server_count(ioc_client_t * client);
const char * ioc_client_server_name(ioc_client_t * client, int index);
int ioc_client_server_of(ioc_client_t * client, int64_t high, int64_t low);

/* The object namespace (extension; our server only). Against an original iocatcher server
 * these send nothing and return -ENOSYS (ioc_client_last_error names the server as an
 * original). */
typedef struct ioc_obj_stat_s {
  int64_t high, low;
  uint64_t size;          /* logical size: the end of the highest byte written, or the stored size */
  uint64_t stored_bytes;  /* size of the object in the backing store (0: not stored) */
  uint64_t cached_bytes;  /* bytes in the server's cache */
  uint64_t dirty_bytes;   /* of those, bytes not yet in the store */
  bool stored;            /* the backing store holds the object (possibly empty) */
} ioc_obj_stat_t;
/* 0 and *out filled, -ENOENT when neither the server's cache nor its store holds the object. */
int ioc_client_obj_stat(ioc_client_t * client, int64_t high, int64_t low, ioc_obj_stat_t * out);
/* Delete the object: cached segments, persistent-memory records and the stored object, durably.
 * 0, -ENOENT when absent, -EBUSY while a range of it is registered. */
int ioc_client_obj_delete(ioc_client_t * client, int64_t high, int64_t low);
/* Listing every object of every server (cached only, stored only, or both), each once.
 * open: only objects whose high half is `high` when filter_high; NULL on failure (errno set).
 * Sends nothing: errors (-ENOSYS, connection errors) come from the first next.
 * next: fills up to max entries; returns how many (at least 1, or 0: the listing is complete)
 * or a negative errno-style value (-EINVAL for max 0), after which the cursor is unchanged
 * (calling again asks for the same page). Memory stays bounded whatever the number of objects.
 * A cursor is used by one thread at a time. */
typedef struct ioc_obj_list_s ioc_obj_list_t;
ioc_obj_list_t * ioc_client_obj_list_open(ioc_client_t * client, bool filter_high, int64_t high);
ssize_t ioc_client_obj_list(ioc_obj_list_t * cursor, ioc_obj_stat_t * entries, size_t max);
void ioc_client_obj_list_close(ioc_obj_list_t * cursor);
/* The reason the server gave for the calling thread's last failed call on this client (e.g.
 * "beyond --max-object-size 1TiB"), or "" when it gave none. Owned by the client, valid until the
 * thread's next call. */
const char * ioc_client_last_error(ioc_client_t * client);

#ifdef __cplusplus
}
#endif

#endif /* IOCATCHER_CLIENT_H */
