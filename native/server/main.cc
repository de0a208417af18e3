// iocatcher-serverd: the native daemon behind the `iocatcher-server` CLI (bin/iocatcher-server).
#include <getopt.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

#include "fabric/fabric.h"
#include "server/fabric_server.h"
#include "server/log.h"
#include "server/options.h"
#include "server/segment_memory.h"

using namespace ioc;
using namespace ioc::server;

static uint64_t parseSize(const char *s, bool &ok) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  ok = errno == 0 && end != s;
  if (!ok) return 0;
  std::string suffix(end);
  for (auto &ch : suffix) ch = toupper(ch);
  uint64_t mult = 1;
  if (suffix == "" || suffix == "B") mult = 1;
  else if (suffix == "K" || suffix == "KB" || suffix == "KIB") mult = 1ull << 10;
  else if (suffix == "M" || suffix == "MB" || suffix == "MIB") mult = 1ull << 20;
  else if (suffix == "G" || suffix == "GB" || suffix == "GIB") mult = 1ull << 30;
  else if (suffix == "T" || suffix == "TB" || suffix == "TIB") mult = 1ull << 40;
  else ok = false;
  return v * mult;
}

bool ioc::server::parseOptions(int argc, char **argv, ServerOptions &o) {
  static option longOpts[] = {
      {"nvdimm", required_argument, nullptr, 'n'},
      {"no-consistency-check", no_argument, nullptr, 'c'},
      {"no-auth", no_argument, nullptr, 'a'},
      {"active-polling", no_argument, nullptr, 'p'},
      {"verbose", optional_argument, nullptr, 'v'},
      {"port", required_argument, nullptr, 'P'},
      {"store", required_argument, nullptr, 's'},
      {"provider", required_argument, nullptr, 'f'},
      {"segment-size", required_argument, nullptr, 'S'},
      {"max-transfer", required_argument, nullptr, 'T'},
      {nullptr, 0, nullptr, 0},
  };
  int c;
  bool ok;
  while ((c = getopt_long(argc, argv, "n:capv::", longOpts, nullptr)) != -1) {
    switch (c) {
      case 'n': {
        std::string list(optarg);
        size_t pos = 0;
        while (pos <= list.size()) {
          size_t comma = list.find(',', pos);
          if (comma == std::string::npos) comma = list.size();
          if (comma > pos) o.nvdimm.push_back(list.substr(pos, comma - pos));
          pos = comma + 1;
        }
        break;
      }
      case 'c': o.consistencyCheck = false; break;
      case 'a': o.auth = false; break;
      case 'p': o.activePolling = true; break;
      case 'v': o.verbose = 1; break;
      case 'P': {
        long p = strtol(optarg, nullptr, 10);
        if (p <= 0 || p > 65534) {
          fprintf(stderr, "iocatcher-serverd: invalid --port '%s'\n", optarg);
          return false;
        }
        o.port = (uint16_t)p;
        break;
      }
      case 's': o.storeDir = optarg; break;
      case 'f': o.provider = optarg; break;
      case 'S':
        o.segmentSize = parseSize(optarg, ok);
        if (!ok || o.segmentSize == 0 || o.segmentSize % 4096) {
          fprintf(stderr, "iocatcher-serverd: --segment-size must be a positive multiple of 4096\n");
          return false;
        }
        break;
      case 'T':
        o.maxTransfer = parseSize(optarg, ok);
        if (!ok || o.maxTransfer == 0) {
          fprintf(stderr, "iocatcher-serverd: invalid --max-transfer '%s'\n", optarg);
          return false;
        }
        break;
      default:
        return false;
    }
  }
  if (optind != argc - 1) {
    fprintf(stderr, "usage: iocatcher-serverd [options] LISTEN_IP\n");
    return false;
  }
  o.listenIp = argv[optind];
  return true;
}

int main(int argc, char **argv) {
  ServerOptions opts;
  if (!parseOptions(argc, argv, opts)) return 2;
  if (opts.verbose) setLogLevel(getenv("IOC_DEBUG") ? LOG_DEBUG : LOG_INFO);
  if (getenv("IOC_DEBUG")) setLogLevel(LOG_DEBUG);
  // Started by the CLI wrapper: never outlive it (a killed wrapper must not leak a daemon).
  if (getenv("IOC_EXIT_WITH_PARENT")) prctl(PR_SET_PDEATHSIG, SIGTERM);

  // Signals go to one waiting thread; every other thread blocks them.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::atomic<bool> stop{false};
  try {
    fabric::Options fo;
    fo.provider = opts.provider;
    fo.node = opts.listenIp;
    fo.service = std::to_string(opts.port);
    fo.listen = true;
    fabric::Transport transport(fo);
    std::unique_ptr<BackingStore> store(new DirectoryStore(opts.storeDir));
    AnonymousSegmentMemory memory(transport);
    SegmentCache cache(*store, memory, opts.segmentSize);
    RangeRegistry ranges(opts.consistencyCheck);
    FabricServer *serverPtr = nullptr;
    TcpChannel tcp(opts.listenIp, opts.port + 1, opts.auth, [&](uint64_t id) {
      if (serverPtr) serverPtr->clientGone(id);
    });
    FabricServer server(opts, transport, cache, ranges, tcp);
    serverPtr = &server;
    tcp.start();

    std::thread signals([&] {
      int sig = 0;
      sigwait(&sigs, &sig);
      if (sig) log(LOG_INFO, "server", "received %s, shutting down", strsignal(sig));
      stop = true;
      server.wake();
    });

    printf("iocatcher-server ready on %s:%u (tcp side channel %u) provider=%s store=%s auth=%s pid=%d\n",
           opts.listenIp.c_str(), opts.port, opts.port + 1, transport.info.providerName().c_str(),
           store->describe().c_str(), opts.auth ? "on" : "off", (int)getpid());
    fflush(stdout);

    server.run(stop);
    int ret = cache.flushAll();
    if (ret < 0) log(LOG_ERROR, "server", "flush at shutdown failed: %s", strerror(-ret));
    tcp.stop();
    signals.join();  // run() only returns once the signal thread has set stop
    log(LOG_INFO, "server", "stopped");
    return ret < 0 ? 1 : 0;
  } catch (const std::exception &e) {
    fprintf(stderr, "iocatcher-server: %s\n", e.what());
    return 1;
  }
}
