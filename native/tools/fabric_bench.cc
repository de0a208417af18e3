// iocatcher-fabric-bench: raw libfabric baselines for `npm run bench`, on the same provider and
// wrappers the server uses, without iocatcher's protocol, cache or copies:
//   iocatcher-fabric-bench --listen IP PORT [--size S] [--mode M]   passive side (progresses its CQ,
//                                                      answers pings; give it the client's S and M)
//   iocatcher-fabric-bench IP PORT [--size S] [--count N] [--mode pingpong|write|read]
// pingpong: message round trips of S bytes; write/read: RMA of S bytes into/from the peer's buffer
// (what the server does for large transfers). Prints one JSON line.
#include <algorithm>
#include <chrono>
#include <functional>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fabric/fabric.h"

using namespace ioc::fabric;
using Clock = std::chrono::steady_clock;

struct Hello {
  char addr[256];
  size_t addrLen;
  uint64_t bufAddr, bufKey, bufLen;
};

static fi_context2 g_send, g_recv, g_rma;

static void waitFor(Transport &t, void *ctx) {
  for (;;) {
    Completion c[8];
    size_t n = t.cq.wait(c, 8, 1000);
    for (size_t i = 0; i < n; i++) {
      if (c[i].error) throw FabricError("completion", c[i].error);
      if (c[i].context == ctx) return;
    }
  }
}

static void post(Transport &t, std::function<ssize_t()> op) {
  for (;;) {
    ssize_t r = op();
    if (r == 0) return;
    if (r != -FI_EAGAIN) throw FabricError("post", (int)r);
    Completion c[8];
    t.cq.poll(c, 8);  // only progress: this tool posts one op at a time
  }
}

int main(int argc, char **argv) {
  bool listen = argc >= 4 && std::string(argv[1]) == "--listen";
  std::string ip = listen ? argv[2] : (argc > 1 ? argv[1] : ""), port = listen ? argv[3] : (argc > 2 ? argv[2] : "");
  size_t size = 4096, count = 10000;
  std::string mode = "pingpong";
  for (int i = listen ? 4 : 3; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--size") size = strtoull(argv[i + 1], nullptr, 10);
    else if (k == "--count") count = strtoull(argv[i + 1], nullptr, 10);
    else if (k == "--mode") mode = argv[i + 1];
  }
  if (ip.empty() || port.empty()) {
    fprintf(stderr, "usage: iocatcher-fabric-bench --listen IP PORT [--size S] [--mode M] | IP PORT [--size S] [--count N] [--mode pingpong|write|read]\n");
    return 2;
  }
  try {
    Options o;
    o.node = ip;
    o.service = port;
    o.listen = listen;
    Transport t(o);
    // The RMA buffer holds one transfer (at least 64 MiB); the listener is given the same --size.
    const size_t bufLen = std::max<size_t>(64u << 20, size);
    std::vector<char> buf(bufLen, 1);
    MemoryRegion mr(t.domain, t.info, buf.data(), bufLen, FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE | FI_SEND | FI_RECV, 7);
    // Message buffers: the pingpong payload (RMA modes send only the hello and the stop message).
    const size_t msgPayload = mode == "pingpong" ? size : 0;
    std::vector<char> msg(sizeof(Hello) + msgPayload + 64);
    std::vector<char> rmsg(sizeof(Hello) + msgPayload + 64);
    void *desc = mr.desc();
    MemoryRegion msgMr(t.domain, t.info, msg.data(), msg.size(), FI_SEND | FI_RECV, 8);
    MemoryRegion rmsgMr(t.domain, t.info, rmsg.data(), rmsg.size(), FI_SEND | FI_RECV, 9);
    (void)desc;
    if (listen) {
      post(t, [&] { return t.ep.postRecv(rmsg.data(), rmsg.size(), rmsgMr.desc(), &g_recv); });
      printf("listening\n");
      fflush(stdout);
      waitFor(t, &g_recv);
      Hello h;
      memcpy(&h, rmsg.data(), sizeof h);
      fi_addr_t peer = t.av.insert(h.addr);
      Hello mine{};
      mine.bufAddr = mr.remoteAddr();
      mine.bufKey = mr.key();
      mine.bufLen = bufLen;
      memcpy(msg.data(), &mine, sizeof mine);
      post(t, [&] { return t.ep.postRecv(rmsg.data(), rmsg.size(), rmsgMr.desc(), &g_recv); });
      post(t, [&] { return t.ep.send(msg.data(), sizeof mine, msgMr.desc(), peer, &g_send); });
      // Echo every message until an empty one arrives; RMA needs nothing from us but progress.
      for (;;) {
        Completion c[8];
        size_t n = t.cq.wait(c, 8, 1000);
        bool stop = false;
        for (size_t i = 0; i < n; i++) {
          if (c[i].context != &g_recv) continue;
          size_t len = c[i].len;
          if (len == 0) stop = true;
          memcpy(msg.data(), rmsg.data(), len);
          post(t, [&] { return t.ep.postRecv(rmsg.data(), rmsg.size(), rmsgMr.desc(), &g_recv); });
          // No wait for the send completion here: it would swallow the next ping.
          if (!stop) post(t, [&] { return t.ep.send(msg.data(), len, msgMr.desc(), peer, &g_send); });
        }
        if (stop) break;
      }
      return 0;
    }
    fi_addr_t peer = t.av.insert(t.info->dest_addr);
    Hello h{};
    std::vector<char> name = t.ep.name();
    memcpy(h.addr, name.data(), name.size());
    h.addrLen = name.size();
    memcpy(msg.data(), &h, sizeof h);
    post(t, [&] { return t.ep.postRecv(rmsg.data(), rmsg.size(), rmsgMr.desc(), &g_recv); });
    post(t, [&] { return t.ep.send(msg.data(), sizeof h, msgMr.desc(), peer, &g_send); });
    waitFor(t, &g_send);
    waitFor(t, &g_recv);
    Hello remote;
    memcpy(&remote, rmsg.data(), sizeof remote);
    if (size > remote.bufLen) size = remote.bufLen;
    post(t, [&] { return t.ep.postRecv(rmsg.data(), rmsg.size(), rmsgMr.desc(), &g_recv); });
    auto one = [&] {
      if (mode == "pingpong") {
        post(t, [&] { return t.ep.send(msg.data(), size, msgMr.desc(), peer, &g_send); });
        waitFor(t, &g_recv);
        post(t, [&] { return t.ep.postRecv(rmsg.data(), rmsg.size(), rmsgMr.desc(), &g_recv); });
      } else if (mode == "write") {
        post(t, [&] { return t.ep.rmaWrite(buf.data(), size, mr.desc(), peer, remote.bufAddr, remote.bufKey, &g_rma); });
        waitFor(t, &g_rma);
      } else {
        post(t, [&] { return t.ep.rmaRead(buf.data(), size, mr.desc(), peer, remote.bufAddr, remote.bufKey, &g_rma); });
        waitFor(t, &g_rma);
      }
    };
    // Warm up (connection setup, both buffers touched): 20 operations, fewer of large sizes
    // (at least 2, about 256 MiB in all).
    size_t warm = std::max<size_t>(2, std::min<size_t>(20, (256u << 20) / size));
    for (size_t i = 0; i < warm; i++) one();
    auto t0 = Clock::now();
    for (size_t i = 0; i < count; i++) one();
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    post(t, [&] { return t.ep.send(msg.data(), 0, msgMr.desc(), peer, &g_send); });  // tell the peer to stop
    printf("{\"mode\":\"%s\",\"provider\":\"%s\",\"size\":%zu,\"count\":%zu,\"usPerOp\":%.3f,\"opsPerSec\":%.1f,\"GBps\":%.4f}\n",
           mode.c_str(), t.info.providerName().c_str(), size, count, secs * 1e6 / count, count / secs,
           (double)size * count / secs / 1e9);
    return 0;
  } catch (const std::exception &e) {
    fprintf(stderr, "iocatcher-fabric-bench: %s\n", e.what());
    return 1;
  }
}
