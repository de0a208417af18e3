// iocatcher-live-fuzz: speaks the wire protocol to a live server, badly on purpose.
//
//   iocatcher-live-fuzz IP PORT fuzz [--count N] [--seed S] [--tcp-junk N]
//       Sends N random and mutated messages of every type (valid templates with random fields,
//       then bit flips, truncations, extensions, wrong ids/keys/types) over libfabric, with a
//       PING/PONG sync point every 64 messages that must be answered; meanwhile a thread opens
//       --tcp-junk connections to the TCP side channel (PORT+1) and writes random bytes.
//       Then checks that a fresh, well-behaved connection still writes, reads, stats, lists and
//       deletes correctly.
//       Prints "fuzz sent=... replies=... pings=... tcp=..." and "check ok"; exit 0 on success.
//   iocatcher-live-fuzz IP PORT case NAME
//       Sends one deliberately bad request and prints "status=<n> reply=<TYPE>" (or
//       "status=none" when the server sends no reply within 5 s). Cases: unknown-type,
//       overflow-read, overflow-flush, overflow-register, overflow-cow, big-read (1 MiB),
//       big-eager (16 KiB eager write), far-write (1 byte at 1 TiB), foreign-lf-id,
//       unknown-lf-id, foreign-tcp-id, bad-rma-key-write, bad-rma-key-read, bad-rma-addr-write,
//       truncated-payload, dead-addresses (10 CONNECT_INITs naming addresses nobody answers at),
//       stalled-read, stalled-write (a 64 MiB read or write, then the endpoint is never
//       progressed again; until killed).
//   iocatcher-live-fuzz IP PORT forge [--ids N] [--rounds R]
//       Plays an attacker who knows only the small sequential ids of other clients, not their
//       keys: R rounds of OBJ_READ, CREATE and PING messages carrying every lf id in 1..N and
//       TCP id in 0..N with a wrong key. Prints "forged sent=<n> replies=<n>" (replies: messages that came
//
// The protocol client: live_fuzz_client.h; the modes: live_fuzz_random.cc (with
// live_fuzz_check.cc), live_fuzz_cases.cc, live_fuzz_forge.cc.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tools/live_fuzz_client.h"

using namespace live_fuzz;

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: iocatcher-live-fuzz IP PORT fuzz [--count N] [--seed S] [--tcp-junk N]\n"
                    "       iocatcher-live-fuzz IP PORT case NAME\n");
    return 2;
  }
  std::string ip = argv[1], port = argv[2], mode = argv[3];
  try {
    if (mode == "case" && argc >= 5) return runCase(ip, port, argv[4]);
    if (mode == "forge") {
      uint64_t ids = 8, rounds = 10;
      for (int i = 4; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        uint64_t v = strtoull(argv[i + 1], nullptr, 10);
        if (a == "--ids") ids = v;
        else if (a == "--rounds") rounds = v;
      }
      return runForge(ip, port, ids, rounds);
    }
    if (mode == "fuzz") {
      uint64_t count = 2000, seed = 1, tcp = 200;
      for (int i = 4; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        uint64_t v = strtoull(argv[i + 1], nullptr, 10);
        if (a == "--count") count = v;
        else if (a == "--seed") seed = v;
        else if (a == "--tcp-junk") tcp = v;
      }
      return runFuzz(ip, port, count, seed, tcp);
    }
  } catch (const std::exception &e) {
    printf("error: %s\n", e.what());
    return 1;
  }
  fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
