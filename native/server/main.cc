// iocatcher-serverd: the native daemon behind the `iocatcher-server` CLI (bin/iocatcher-server).
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

#include "common/failpoint.h"
#include "common/size.h"
#include "common/thread_name.h"
#include "fabric/fabric.h"
#include "server/fabric_server.h"
#include "server/gated_store.h"
#include "server/log.h"
#include "server/options.h"
#include "server/pmem_pool.h"
#ifdef IOC_HAVE_RADOS
#include "server/rados_store.h"
#endif
#include "server/sd_notify.h"
#include "server/segment_memory.h"

using namespace ioc;
using namespace ioc::server;

// One size syntax for every SIZE option (native/common/size.h, as the TypeScript side).
static uint64_t sizeOption(const char *s, bool &ok) {
  uint64_t v = 0;
  ok = ioc::parseSize(s, v);
  return v;
}

// -v=CATS: every category must be one the logs use (a typo would silently log nothing).
static bool validDebugCategories(const char *cats) {
  static const char *const known[] = {"fabric", "protocol", "auth", "server", "cache", "tcp", "rados", "stats", "config", "metrics", "all"};
  std::string list(cats);
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string::npos) comma = list.size();
    std::string cat = list.substr(pos, comma - pos);
    bool found = cat.empty();
    for (const char *k : known) found = found || cat == k;
    if (!found) {
      fprintf(stderr, "iocatcher-serverd: unknown --verbose category '%s' (fabric, protocol, auth, server, cache, tcp, rados, stats, config, metrics, all)\n", cat.c_str());
      return false;
    }
    pos = comma + 1;
  }
  return true;
}

// A number of seconds, 1 to 86400.
static bool parseSeconds(const char *text, const char *option, int &out) {
  char *end;
  long v = strtol(text, &end, 10);
  if (end == text || *end || v < 1 || v > 86400) {
    fprintf(stderr, "iocatcher-serverd: %s takes seconds (1-86400)\n", option);
    return false;
  }
  out = (int)v;
  return true;
}

static const char USAGE[] =
    "usage: iocatcher-serverd [options] LISTEN_IP   (normally started by iocatcher-server)\n"
    "  --port PORT  --store DIR|rados://POOL  --ceph-conf FILE  --ceph-client NAME  --provider NAME\n"
    "  -n/--nvdimm DIR[,DIR...]\n"
    "  -c/--no-consistency-check  -a/--no-auth  -p/--active-polling  -v/--verbose[=CATS]\n"
    "  --segment-size SIZE  --max-transfer SIZE  --cache-size SIZE (default: RAM/4, at most 64GB)\n"
    "  --max-message SIZE (36KB)  --max-object-size SIZE (1TB)  --rma-timeout SECONDS (30)\n"
    "  --shutdown-timeout SECONDS (60)  --write-behind on|off (on)  --prefault SIZE|off (cache, at most 1GB)\n"
    "  --high-water PCT (90)  --low-water PCT (70)  --stats-interval SECONDS (60; 0: off)\n"
    "  --max-clients N (default: from the open-file limit, raised to its hard limit at start)\n"
    "IOC_CONTROL_FD=N: answer stats/ls commands on fd N. SIGUSR1 logs the cache figures.\n";

uint64_t ioc::server::defaultCacheSize() {
  uint64_t ram = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
  return std::min<uint64_t>(ram / 4, 64ull << 30);
}

// Raises the soft open-file limit to the hard one (a side channel and up to 8 libfabric
// connections per client), then leaves 256 descriptors for everything else and the object
// files a directory store keeps open.
size_t ioc::server::defaultMaxClients() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 100;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = std::min<rlim_t>(lim.rlim_max, 1u << 20);
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  if (lim.rlim_cur == RLIM_INFINITY) return 100000;
  rlim_t reserve = 256 + DirectoryStore::defaultMaxOpen();
  return lim.rlim_cur > reserve + 9 ? (size_t)((lim.rlim_cur - reserve) / 9) : 1;
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
      {"max-message", required_argument, nullptr, 'M'},
      {"max-object-size", required_argument, nullptr, 'O'},
      {"rma-timeout", required_argument, nullptr, 'R'},
      {"shutdown-timeout", required_argument, nullptr, 'X'},
      {"write-behind", required_argument, nullptr, 'W'},
      {"cache-size", required_argument, nullptr, 'C'},
      {"prefault", required_argument, nullptr, 'F'},
      {"high-water", required_argument, nullptr, 'H'},
      {"low-water", required_argument, nullptr, 'L'},
      {"stats-interval", required_argument, nullptr, 'I'},
      {"ceph-conf", required_argument, nullptr, 'K'},
      {"ceph-client", required_argument, nullptr, 'U'},
      {"max-clients", required_argument, nullptr, 'Q'},
      {"help", no_argument, nullptr, 'h'},
      {"version", no_argument, nullptr, 'V'},
      {nullptr, 0, nullptr, 0},
  };
  int c;
  bool ok;
  while ((c = getopt_long(argc, argv, "n:capv::h", longOpts, nullptr)) != -1) {
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
      case 'v':
        // -v: throughput every second. -v=CATS / --verbose=CATS: debug messages of the
        // comma-separated categories CATS, and the throughput line only if CATS has stats or all.
        if (optarg && *optarg) {
          const char *cats = optarg[0] == '=' ? optarg + 1 : optarg;
          if (!validDebugCategories(cats)) return false;
          setDebugCategories(cats);
          o.verbose = debugCategory("stats") ? 1 : 0;
        } else {
          o.verbose = 1;
        }
        break;
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
      case 'K': o.cephConf = optarg; break;
      case 'U': o.cephClient = optarg; break;
      case 'f': o.provider = optarg; break;
      case 'S':
        o.segmentSize = sizeOption(optarg, ok);
        if (!ok || o.segmentSize == 0 || o.segmentSize % 4096 || o.segmentSize > (1u << 30)) {
          fprintf(stderr, "iocatcher-serverd: --segment-size '%s' must be a multiple of 4096, at most 1GB (%s)\n", optarg, IOC_SIZE_SYNTAX);
          return false;
        }
        break;
      case 'T':
        o.maxTransfer = sizeOption(optarg, ok);
        if (!ok || o.maxTransfer == 0) {
          fprintf(stderr, "iocatcher-serverd: invalid --max-transfer '%s': expected " IOC_SIZE_SYNTAX "\n", optarg);
          return false;
        }
        break;
      case 'M':
        o.maxMessage = sizeOption(optarg, ok);
        if (!ok || o.maxMessage < 64 || o.maxMessage > 36864) {
          fprintf(stderr, "iocatcher-serverd: --max-message must be between 64B and 36KB\n");
          return false;
        }
        break;
      case 'O':
        o.maxObjectSize = sizeOption(optarg, ok);
        if (!ok || o.maxObjectSize == 0) {
          fprintf(stderr, "iocatcher-serverd: invalid --max-object-size '%s': expected " IOC_SIZE_SYNTAX "\n", optarg);
          return false;
        }
        break;
      case 'R':
        if (!parseSeconds(optarg, "--rma-timeout", o.rmaTimeoutSec)) return false;
        break;
      case 'W':
        if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
          fprintf(stderr, "iocatcher-serverd: --write-behind takes on or off\n");
          return false;
        }
        o.writeBehind = strcmp(optarg, "on") == 0;
        break;
      case 'F':
        if (strcmp(optarg, "off") == 0) {
          o.prefault = 0;
          break;
        }
        o.prefault = sizeOption(optarg, ok);
        if (!ok) {
          fprintf(stderr, "iocatcher-serverd: invalid --prefault '%s' (off, or " IOC_SIZE_SYNTAX ")\n", optarg);
          return false;
        }
        break;
      case 'X':
        if (!parseSeconds(optarg, "--shutdown-timeout", o.shutdownTimeoutSec)) return false;
        break;
      case 'C':
        o.cacheSize = sizeOption(optarg, ok);
        if (!ok || o.cacheSize == 0) {
          fprintf(stderr, "iocatcher-serverd: invalid --cache-size '%s': expected " IOC_SIZE_SYNTAX "\n", optarg);
          return false;
        }
        break;
      case 'H':
      case 'L': {
        char *end;
        long v = strtol(optarg, &end, 10);
        if (*end || v < 1 || v > 100) {
          fprintf(stderr, "iocatcher-serverd: --%s takes a percentage (1-100)\n", c == 'H' ? "high-water" : "low-water");
          return false;
        }
        (c == 'H' ? o.highWater : o.lowWater) = (int)v;
        break;
      }
      case 'I': {
        char *end;
        long v = strtol(optarg, &end, 10);
        if (*end || v < 0) {
          fprintf(stderr, "iocatcher-serverd: invalid --stats-interval '%s'\n", optarg);
          return false;
        }
        o.statsInterval = (int)v;
        break;
      }
      case 'Q': {
        char *end;
        long v = strtol(optarg, &end, 10);
        if (*end || v < 1 || v > 1000000) {
          fprintf(stderr, "iocatcher-serverd: --max-clients takes a number of clients (1-1000000)\n");
          return false;
        }
        o.maxClients = (size_t)v;
        break;
      }
      case 'h':
        fputs(USAGE, stdout);
        exit(0);
      case 'V':
        printf("iocatcher-serverd %s\n", IOC_VERSION);
        exit(0);
      default:
        return false;
    }
  }
  if (o.lowWater >= o.highWater) {
    fprintf(stderr, "iocatcher-serverd: --low-water must be below --high-water\n");
    return false;
  }
  if (o.cacheSize == 0) o.cacheSize = defaultCacheSize();
  if (o.prefault == UINT64_MAX) o.prefault = std::min<uint64_t>(o.cacheSize, 1ull << 30);
  o.prefault = std::min(o.prefault, o.cacheSize);
  if (o.maxClients == 0) o.maxClients = defaultMaxClients();
  if (o.cacheSize < 2 * o.segmentSize) {
    fprintf(stderr, "iocatcher-serverd: --cache-size must hold at least two segments (%zu bytes)\n", 2 * o.segmentSize);
    return false;
  }
  if (o.storeDir.compare(0, 8, "rados://") == 0) {
#ifndef IOC_HAVE_RADOS
    fprintf(stderr, "iocatcher-serverd: --store %s: this build has no RADOS support (librados was not found "
            "when it was built: install librados-dev, e.g. bash scripts/setup.sh, and rebuild)\n", o.storeDir.c_str());
    return false;
#endif
    if (o.storeDir.size() == 8 || o.storeDir.find('/', 8) != std::string::npos) {
      fprintf(stderr, "iocatcher-serverd: --store rados://POOL needs a pool name, got '%s'\n", o.storeDir.c_str());
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

// --store DIR (or dir://DIR): DirectoryStore; --store rados://POOL: RadosStore. A store that does
// not take a probe write (create, write, sync, remove) throws StoreUnusable: the server does not
// start rather than acknowledge writes it can never store.
static std::unique_ptr<BackingStore> openStore(const ServerOptions &o) {
#ifdef IOC_HAVE_RADOS
  if (o.storeDir.compare(0, 8, "rados://") == 0) {
    RadosConfig rc;
    rc.pool = o.storeDir.substr(8);
    rc.confFile = o.cephConf;
    rc.clientName = o.cephClient;
    std::unique_ptr<BackingStore> rados(new RadosStore(rc));
    if (int ret = rados->checkWritable()) throw StoreUnusable(o.storeDir, strerror(-ret));
    return rados;
  }
#endif
  std::string path = o.storeDir.compare(0, 6, "dir://") == 0 ? o.storeDir.substr(6) : o.storeDir;
  DirectoryStore *dir = new DirectoryStore(path);
  if (int ret = dir->checkWritable()) {
    delete dir;
    throw StoreUnusable(path, strerror(-ret));
  }
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  log(LOG_INFO, "store", "at most %zu object files open at once (open-file limit %llu)", dir->maxOpen(),
      (unsigned long long)lim.rlim_cur);
  return std::unique_ptr<BackingStore>(dir);
}

// IOC_CONTROL_FD (set by the iocatcher-server CLI): one command per line ("stats", "ls"), one
// JSON line answered per command, until the other end closes or the server stops.
static void serveControlFd(int fd, FabricServer &server, const std::atomic<bool> &stop) {
  std::string buf;
  char chunk[4096];
  auto writeAll = [&](const std::string &s) {
    size_t done = 0;
    while (done < s.size()) {
      ssize_t w = write(fd, s.data() + done, s.size() - done);
      if (w > 0) {
        done += (size_t)w;
      } else if (w < 0 && (errno == EINTR || errno == EAGAIN)) {
        pollfd p{fd, POLLOUT, 0};
        poll(&p, 1, 200);
        if (stop.load()) return false;
      } else {
        return false;
      }
    }
    return true;
  };
  while (!stop.load()) {
    pollfd p{fd, POLLIN, 0};
    int n = poll(&p, 1, 200);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n < 0) return;
      continue;
    }
    ssize_t r = read(fd, chunk, sizeof chunk);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (r <= 0) return;
    buf.append(chunk, (size_t)r);
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      std::string cmd = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      while (!cmd.empty() && (cmd.back() == '\r' || cmd.back() == ' ')) cmd.pop_back();
      if (cmd.empty()) continue;
      if (!writeAll(server.control(cmd) + "\n")) return;
    }
    if (buf.size() > 4096) return;  // not a command
  }
}

int main(int argc, char **argv) {
  ServerOptions opts;
  if (!parseOptions(argc, argv, opts)) return 2;
  if (opts.verbose) setLogLevel(getenv("IOC_DEBUG") ? LOG_DEBUG : LOG_INFO);
  if (getenv("IOC_DEBUG")) setLogLevel(LOG_DEBUG);
#ifdef IOC_FAILPOINTS_ENABLED
  // Test builds: the failpoints (IOC_FAILPOINTS), each logged; a wrong one stops the start.
  if (!fail::start("iocatcher-serverd", [](bool error, const char *line) { log(error ? LOG_ERROR : LOG_WARN, "failpoint", "%s", line); }))
    return 2;
#endif
  // Started by the CLI wrapper: never outlive it (a killed wrapper must not leak a daemon).
  if (getenv("IOC_EXIT_WITH_PARENT")) prctl(PR_SET_PDEATHSIG, SIGTERM);

  // Signals go to one waiting thread; every other thread blocks them.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGUSR1);  // log the cache figures
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // ofi_rxm's default shared receive queue posts 4096 bounce buffers of 16 KiB: 64 MiB resident
  // before any data, more than the rest of the server. 512 is ample for our 64 receive slots and
  // keeps resident memory close to --cache-size (the environment still wins).
  setenv("FI_OFI_RXM_MSG_RX_SIZE", "512", 0);

  std::atomic<bool> stop{false};
  try {
    // The store first: one that cannot be written stops the start before anything else runs.
    std::unique_ptr<BackingStore> store = openStore(opts);
    fabric::Options fo;
    fo.provider = opts.provider;
    fo.node = opts.listenIp;
    fo.service = std::to_string(opts.port);
    fo.listen = true;
    fabric::Transport transport(fo);
#ifdef IOC_FAILPOINTS_ENABLED
    if (IOC_FAILPOINT_CONFIGURED(store_data_io)) store.reset(new GatedStore(std::move(store)));
#endif
    // Slots beyond the cache size (address space, or sparse pool files) leave room for
    // segments pinned by requests in flight; eviction keeps the rest within the cache size.
    size_t slots = (2 * opts.cacheSize + opts.maxTransfer + opts.segmentSize - 1) / opts.segmentSize + 2;
    std::unique_ptr<SegmentMemory> memory;
    if (opts.nvdimm.empty())
      memory.reset(new AnonymousSegmentMemory(transport, opts.segmentSize, slots, opts.prefault, opts.cacheSize));
    else
      memory.reset(new PmemSegmentMemory(transport, opts.nvdimm, opts.segmentSize, slots, opts.prefault));
    CacheLimits limits{opts.cacheSize, opts.highWater / 100.0, opts.lowWater / 100.0};
    limits.writeBehind = opts.writeBehind;
    std::atomic<FabricServer *> serverPtr{nullptr};  // read by the store and TCP threads
    // Store jobs finish on store threads: they wake the fabric loop to run their completions.
    SegmentCache cache(*store, *memory, limits, [&serverPtr] {
      if (FabricServer *s = serverPtr.load()) s->wake();
    });
    log(LOG_INFO, "cache", "%llu MiB (spill above %d%%, down to %d%%), %zu KiB segments, in %s",
        (unsigned long long)(opts.cacheSize >> 20), opts.highWater, opts.lowWater, opts.segmentSize >> 10,
        memory->describe().c_str());
    log(LOG_INFO, "tcp", "at most %zu clients at once (--max-clients)", opts.maxClients);
    RangeRegistry ranges(opts.consistencyCheck);
    TcpChannel tcp(opts.listenIp, opts.port + 1, opts.auth, opts.maxClients, [&](uint64_t id) {
      if (FabricServer *s = serverPtr.load()) s->clientGone(id);
    });
    FabricServer server(opts, transport, cache, ranges, tcp);
    serverPtr = &server;
    tcp.start();

    std::thread signals([&] {
      ioc::nameThisThread("ioc-signals");
      int sig = 0;
      while (sigwait(&sigs, &sig) == 0 && sig == SIGUSR1) server.requestStats();
      if (sig) log(LOG_INFO, "server", "received %s, shutting down", strsignal(sig));
      sdNotify("STOPPING=1\nSTATUS=writing dirty segments back");
      stop = true;
      server.wake();
    });
    std::thread control;
    if (const char *fdText = getenv("IOC_CONTROL_FD")) {
      int fd = atoi(fdText);
      if (fd > 2) control = std::thread([&, fd] {
        ioc::nameThisThread("ioc-control");
        serveControlFd(fd, server, stop);
      });
    }

    printf("iocatcher-server ready on %s:%u (tcp side channel %u) provider=%s store=%s auth=%s pid=%d\n",
           opts.listenIp.c_str(), opts.port, opts.port + 1, transport.info.providerName().c_str(),
           store->describe().c_str(), opts.auth ? "on" : "off", (int)getpid());
    fflush(stdout);
    // Under systemd (Type=notify): the fabric endpoint and the TCP side channel accept clients now.
    {
      char state[256];
      snprintf(state, sizeof state, "READY=1\nSTATUS=serving on %s:%u", opts.listenIp.c_str(), opts.port);
      sdNotify(state);
    }

    server.run(stop);
    serverPtr = nullptr;  // the loop is over: completions now run in flushAllBounded
    int ret = cache.flushAllBounded(std::chrono::seconds(opts.shutdownTimeoutSec));
    if (ret == -ETIMEDOUT) {
      // Store threads are stuck in the store: leave without waiting for them (nor destroying
      // what they use). Whatever was not written back is listed in the log above.
      tcp.stop();
      log(LOG_ERROR, "server", "stopped without finishing the store writes (--shutdown-timeout %d s)",
          opts.shutdownTimeoutSec);
      fflush(stderr);
      fflush(stdout);
      _exit(1);
    }
    // Each object not written is listed in the log above (SegmentCache::reportUnwritten).
    if (ret < 0)
      log(LOG_ERROR, "server", "flush at shutdown failed: the store %s refused the writes: %s", store->describe().c_str(),
          strerror(-ret));
    tcp.stop();
    signals.join();  // run() only returns once the signal thread has set stop
    if (control.joinable()) control.join();
    log(LOG_INFO, "server", "stopped");
    if (server.endpointLeftOpen()) {
      // Closing the fabric with operations still posted crashes libfabric 1.17 (ofi_rxm):
      // everything is flushed and stopped, the kernel reclaims the rest.
      fflush(stdout);
      fflush(stderr);
      _exit(ret < 0 ? 1 : 0);
    }
    return ret < 0 ? 1 : 0;
  } catch (const StoreUnusable &e) {
    fprintf(stderr, "iocatcher-server: %s\n", e.what());
    return 2;
  } catch (const std::exception &e) {
    fprintf(stderr, "iocatcher-server: %s\n", e.what());
    return 1;
  }
}
