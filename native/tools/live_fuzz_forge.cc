// iocatcher-live-fuzz's forge mode (usage: live_fuzz.cc): an attacker who knows the small
// sequential ids of other clients but not their keys.
#include <unistd.h>

#include <cstdio>
#include <random>

#include "tools/live_fuzz_client.h"

namespace live_fuzz {

int runForge(const std::string &ip, const std::string &port, uint64_t ids, uint64_t rounds) {
  RawClient c(ip, port);
  std::mt19937_64 rng(getpid());
  uint64_t sent = 0, replies = 0;
  for (uint64_t round = 0; round < rounds; round++) {
    for (uint64_t lf = 1; lf <= ids; lf++) {
      for (uint64_t tcp = 0; tcp <= ids; tcp++) {  // TCP ids start at 0, as the original's
        Header h = c.header(OBJ_READ);
        h.lfClientId = lf;
        h.tcpClientId = tcp;
        h.tcpClientKey = rng() | 1;  // never anyone's key (keys are random too: 2^-63)
        ObjectId id;
        id.high = (int64_t)round;
        id.low = (int64_t)lf;
        std::vector<char> msg;
        switch ((round + lf + tcp) % 3) {
          case 0: {
            ReadWrite m;
            m.objectId = id;
            m.size = 4096;
            msg = messageBytes(h, m);
            break;
          }
          case 1: {
            h.msgType = CREATE;
            Create m;
            m.objectId = id;
            msg = messageBytes(h, m);
            break;
          }
          default: {
            h.msgType = PING;
            Ping m;
            m.eagerSize = 4;
            m.data = "+++\n";
            msg = messageBytes(h, m);
            break;
          }
        }
        if (!c.send(msg)) {
          printf("send failed\n");
          return 1;
        }
        sent++;
      }
    }
    c.progress(0);
    replies += c.inbox().size();
    c.inbox().clear();
  }
  Message stray;
  while (c.waitAny(300, stray)) replies++;
  printf("forged sent=%llu replies=%llu\n", (unsigned long long)sent, (unsigned long long)replies);
  bool alive = c.answersPing(1, 4000);
  printf("alive=%d\n", alive ? 1 : 0);
  return alive ? 0 : 1;
}

}  // namespace live_fuzz
