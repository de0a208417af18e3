// iocatcher-serverd: the native daemon behind the `iocatcher-server` CLI (bin/iocatcher-server).
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
    limits.slowStoreWarn = std::chrono::seconds(opts.slowStoreWarningSec);
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
