// Every failpoint, in one list: IOC_FAILPOINT_DEF(id, "name", actions it takes, what it does).
// Included only by test builds (failpoint.h with IOC_FAILPOINTS_ENABLED): a release binary
// holds none of these names. Actions: FIRE (on, off, sleep, pause, kill, sigterm, with the
// after/first triggers), VALUE (value(N), read by the code), ERROR (error(E): the code fails
// with -E). The test that checks release binaries (test/release-build.test.ts) reads this file.

// Personas: imitations of other servers, for the clients' compatibility tests.
IOC_FAILPOINT_DEF(server_no_echo, "server.no_echo", FIRE,
                  "replies never echo the request's sequence (the original server)")
IOC_FAILPOINT_DEF(server_no_trailer, "server.no_trailer", FIRE,
                  "request trailers are left in, so refused as trailing bytes (servers before trailers)")
IOC_FAILPOINT_DEF(server_original_ping, "server.original_ping", FIRE,
                  "PING answered as the original: a plain Response, 0 when the bytes are 43/42, else -1")
IOC_FAILPOINT_DEF(server_original_errors, "server.original_errors", FIRE,
                  "every failure answered -1, and no server info in ASSIGN_ID (the original)")
IOC_FAILPOINT_DEF(server_no_fencing, "server.no_fencing", FIRE,
                  "no clock in ASSIGN_ID and write deadlines ignored (a server without fencing)")
IOC_FAILPOINT_DEF(fabric_original_shm_name, "fabric.original_shm_name", FIRE,
                  "a listening shm endpoint takes the original server's name (IP:PORT)")

// Faults of the server.
IOC_FAILPOINT_DEF(server_duplicate_replies, "server.duplicate_replies", FIRE,
                  "every plain reply is sent twice (stale replies a client must ignore)")
IOC_FAILPOINT_DEF(server_fence_no_expiry, "server.fence_no_expiry", FIRE,
                  "a fenced write is not answered at its deadline, only at --rma-timeout")
IOC_FAILPOINT_DEF(server_unanswered_connect, "server.unanswered_connect", FIRE,
                  "evaluated per CONNECT_INIT: when it fires, that handshake gets no answer")
IOC_FAILPOINT_DEF(server_stall_inplace_write, "server.stall_inplace_write", VALUE,
                  "an in-place write of exactly N bytes posts half of its RMA and never the rest")
IOC_FAILPOINT_DEF(server_hold_inplace_write, "server.hold_inplace_write", FIRE,
                  "evaluated per finished in-place write: when it fires, held until its client goes")
IOC_FAILPOINT_DEF(server_hold_writes_until_unregisters, "server.hold_writes_until_unregisters", VALUE,
                  "the replies of RMA writes wait until N RANGE_UNREGISTERs were answered")
IOC_FAILPOINT_DEF(server_before_write_rma, "server.before_write_rma", FIRE,
                  "evaluated once a write above 32 KiB is accepted, before its RMA is posted")
IOC_FAILPOINT_DEF(server_rma_posted, "server.rma_posted", FIRE, "evaluated per RMA operation posted")
IOC_FAILPOINT_DEF(server_write_committed, "server.write_committed", FIRE,
                  "evaluated per committed client write (each piece of an OBJ_WRITE_PIECES), before its acknowledgement")
IOC_FAILPOINT_DEF(store_data_io, "store.data_io", FIRE | ERROR,
                  "evaluated before each store read, write, copy, sync, remove and listing (lookups pass)")
IOC_FAILPOINT_DEF(store_copy_kill_at_bytes, "store.copy_kill_at_bytes", VALUE,
                  "the daemon SIGKILLs itself once a whole-object copy has written N bytes")

// Faults of the clients.
IOC_FAILPOINT_DEF(client_no_fencing, "client.no_fencing", FIRE,
                  "the client sends no write deadlines, even to a server that takes them")
IOC_FAILPOINT_DEF(addon_no_loop_calls, "addon.no_loop_calls", FIRE,
                  "the addon never runs small calls on the event loop (thread pool only)")
