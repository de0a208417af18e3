// iocatcher-client: ping-pong and read/write bandwidth against a running server, through the
// C client library. Prints ops/s, latency and GB/s (also as one JSON line with --json).
#include <getopt.h>

#include <chrono>
#include <functional>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "common/size.h"
#include "iocatcher-client.h"

using Clock = std::chrono::steady_clock;

static void usage(FILE *out) {
  fprintf(out,
          "Usage: iocatcher-client [options] SERVER_IP\n"
          "\n"
          "Measures a running iocatcher-server through the C client library.\n"
          "\n"
          "Options:\n"
          "  --port PORT        server libfabric port (default 8556)\n"
          "  --mode MODE        ping, read, write, all, or checkpoint (default all)\n"
          "  --total SIZE       checkpoint mode: bytes written at increasing offsets, then flushed (default 1G)\n"
          "  --size SIZE        transfer size for read/write, e.g. 4096, 1M, 8M (default 8M)\n"
          "  --count N          operations per measurement (default: sized to ~1 s)\n"
          "  --eager SIZE       inline bytes carried by each ping (default 0)\n"
          "  --rdma SIZE        bytes each ping offers the server to read by RMA (default 0)\n"
          "  --object HIGH:LOW  object of read/write/checkpoint (default 0x10c:1; checkpoint 0x10c:2)\n"
          "  --fresh            read/write: operation i targets object HIGH:LOW+i (a fresh object per\n"
          "                     write; a read reads back what the same --fresh write run wrote)\n"
          "  --sweep            read/write: operation i at offset i*SIZE modulo --total (default: 0)\n"
          "  --start-at US      start the timed operations at this wall-clock time (microseconds since\n"
          "                     the epoch), so that several processes start together\n"
          "  --active           busy-poll completions instead of blocking\n"
          "  --json             also print one JSON object per measurement\n"
          "  -h, --help         show this help\n"
          "  --version          print the version\n"
          "\n"
          "SIZE: " IOC_SIZE_SYNTAX ".\n"
          "IOC_CLIENT_TIMEOUT_MS: milliseconds before a request with no answer fails.\n");
}

static bool parseSize(const char *s, size_t &out) {
  uint64_t v = 0;
  if (!ioc::parseSize(s, v)) return false;
  out = (size_t)v;
  return true;
}

// A whole number in [min, max], nothing else ("-5" or "10x" are errors, not 0 or 10).
static bool parseCount(const char *s, unsigned long long min, unsigned long long max, unsigned long long &out) {
  if (!*s || !isdigit((unsigned char)*s)) return false;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v < min || v > max) return false;
  out = v;
  return true;
}

struct Result {
  std::string name;
  size_t count, size;
  double seconds;
  double medianSeconds;        // of one operation
  long long startUs, endUs;    // wall clock (CLOCK_REALTIME) of the timed loop, for several processes
};

static long long epochUs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void report(const Result &r, bool json) {
  double ops = r.count / r.seconds;
  double gbs = r.size ? (double)r.size * r.count / r.seconds / 1e9 : 0;
  printf("%-6s size=%-10zu count=%-7zu %10.0f ops/s  %8.2f us/op  %7.3f GB/s\n", r.name.c_str(), r.size, r.count, ops,
         1e6 / ops, gbs);
  if (json) {
    printf("{\"mode\":\"%s\",\"size\":%zu,\"count\":%zu,\"opsPerSec\":%.1f,\"usPerOp\":%.3f,\"GBps\":%.4f,",
           r.name.c_str(), r.size, r.count, ops, 1e6 / ops, gbs);
    if (r.medianSeconds > 0)  // operations timed one by one (not the ping rounds, run in one call)
      printf("\"medianUsPerOp\":%.3f,\"medianGBps\":%.4f,", r.medianSeconds * 1e6, r.size ? r.size / r.medianSeconds / 1e9 : 0);
    printf("\"startEpochUs\":%lld,\"endEpochUs\":%lld}\n", r.startUs, r.endUs);
  }
  fflush(stdout);
}

int main(int argc, char **argv) {
  static option longOpts[] = {{"port", required_argument, nullptr, 'P'},  {"mode", required_argument, nullptr, 'm'},
                              {"size", required_argument, nullptr, 's'},  {"count", required_argument, nullptr, 'n'},
                              {"eager", required_argument, nullptr, 'e'}, {"active", no_argument, nullptr, 'a'},
                              {"rdma", required_argument, nullptr, 'r'},
                              {"json", no_argument, nullptr, 'j'}, {"total", required_argument, nullptr, 't'},        {"help", no_argument, nullptr, 'h'},
                              {"object", required_argument, nullptr, 'o'}, {"fresh", no_argument, nullptr, 'f'},
                              {"sweep", no_argument, nullptr, 'w'}, {"start-at", required_argument, nullptr, 'S'},
                              {"version", no_argument, nullptr, 'V'},
                              {nullptr, 0, nullptr, 0}};
  std::string port = "8556", mode = "all";
  size_t size = 8 << 20, count = 0, eager = 0, rdma = 0, total = 1ull << 30;
  bool active = false, json = false, fresh = false, sweep = false, objectSet = false;
  int64_t high = 0x10c, low = 1;
  long long startAtUs = 0;
  int c;
  unsigned long long n;
  // Bad input: one line saying what is wrong, exit 2 (not the whole usage text).
  while ((c = getopt_long(argc, argv, "h", longOpts, nullptr)) != -1) {
    switch (c) {
      case 'P':
        if (!parseCount(optarg, 1, 65534, n)) {
          fprintf(stderr, "iocatcher-client: invalid --port '%s' (1-65534)\n", optarg);
          return 2;
        }
        port = optarg;
        break;
      case 'm': mode = optarg; break;
      case 's':
        if (!parseSize(optarg, size) || size == 0) {
          fprintf(stderr, "iocatcher-client: invalid --size '%s': expected %s\n", optarg, IOC_SIZE_SYNTAX);
          return 2;
        }
        break;
      case 'n':
        if (!parseCount(optarg, 1, 1ull << 40, n)) {
          fprintf(stderr, "iocatcher-client: --count takes a positive whole number, got '%s'\n", optarg);
          return 2;
        }
        count = (size_t)n;
        break;
      case 'e':
        if (!parseSize(optarg, eager) || eager > 32768) {
          fprintf(stderr, "iocatcher-client: invalid --eager '%s': at most 32KB, %s\n", optarg, IOC_SIZE_SYNTAX);
          return 2;
        }
        break;
      case 'r':
        if (!parseSize(optarg, rdma)) {
          fprintf(stderr, "iocatcher-client: invalid --rdma '%s'\n", optarg);
          return 2;
        }
        break;
      case 't':
        if (!parseSize(optarg, total) || total == 0) {
          fprintf(stderr, "iocatcher-client: invalid --total '%s': expected %s\n", optarg, IOC_SIZE_SYNTAX);
          return 2;
        }
        break;
      case 'o': {
        char *end;
        high = strtoll(optarg, &end, 0);
        if (*end != ':') {
          fprintf(stderr, "iocatcher-client: --object is HIGH:LOW\n");
          return 2;
        }
        low = strtoll(end + 1, &end, 0);
        objectSet = true;
        break;
      }
      case 'f': fresh = true; break;
      case 'w': sweep = true; break;
      case 'S': startAtUs = strtoll(optarg, nullptr, 10); break;
      case 'a': active = true; break;
      case 'j': json = true; break;
      case 'h': usage(stdout); return 0;
      case 'V': printf("iocatcher-client %s\n", IOC_VERSION); return 0;
      default:  // getopt printed what was wrong
        fprintf(stderr, "iocatcher-client: see --help\n");
        return 2;
    }
  }
  if (mode != "ping" && mode != "read" && mode != "write" && mode != "all" && mode != "checkpoint") {
    fprintf(stderr, "iocatcher-client: unknown --mode '%s' (ping, read, write, all or checkpoint)\n", mode.c_str());
    return 2;
  }
  if (optind != argc - 1) {
    fprintf(stderr, "iocatcher-client: expected one SERVER_IP, got %d arguments (see --help)\n", argc - optind);
    return 2;
  }
  if (const char *t = getenv("IOC_CLIENT_TIMEOUT_MS")) {
    if (!parseCount(t, 0, 86400000, n)) {
      fprintf(stderr, "iocatcher-client: IOC_CLIENT_TIMEOUT_MS='%s' is not a whole number of milliseconds (0-86400000)\n", t);
      return 2;
    }
  }
  ioc_client_t *client = ioc_client_init(argv[optind], port.c_str());
  if (!client) {
    fprintf(stderr, "iocatcher-client: cannot connect to %s:%s: %s\n", argv[optind], port.c_str(), strerror(errno));
    return 1;
  }
  ioc_client_set_passive_wait(client, !active);
  printf("provider: %s\n", ioc_client_provider_name(client));
  std::vector<char> buf(size, 'x');
  // Operation i of a measurement: --fresh gives it object LOW+opBase+i, --sweep offset i*size.
  size_t opIndex = 0, opBase = 0;
  const size_t span = std::max(size, total / size * size);
  auto target = [&](int64_t &l, size_t &off) {
    size_t i = opIndex++;
    l = fresh ? low + (int64_t)(opBase + i) : low;
    off = sweep ? (i * size) % span : 0;
  };
  auto measure = [&](const std::string &name, size_t sz, const std::function<long()> &op) -> bool {
    size_t n = count;
    opIndex = 0;
    opBase = 1u << 30;  // calibration (no --count) with --fresh: objects far from the measured ones
    if (n == 0) {  // calibrate: ~1 s of work
      auto t0 = Clock::now();
      size_t probe = 0;
      while (std::chrono::duration<double>(Clock::now() - t0).count() < 0.1) {
        if (op() < 0) return false;
        probe++;
      }
      n = std::max<size_t>(probe * 10, 3);
    }
    opIndex = 0;  // the measured operations: objects LOW.. (--fresh), offsets from 0 (--sweep)
    opBase = 0;
    std::vector<double> each(n);
    for (long long now = epochUs(); now < startAtUs; now = epochUs()) {
      long long wait = startAtUs - now;
      timespec ts{(time_t)(wait / 1000000), (long)(wait % 1000000) * 1000};
      nanosleep(&ts, nullptr);
    }
    long long startUs = epochUs();
    auto t0 = Clock::now();
    for (size_t i = 0; i < n; i++) {
      auto o0 = Clock::now();
      long ret = op();
      each[i] = std::chrono::duration<double>(Clock::now() - o0).count();
      if (ret < 0) {
        fprintf(stderr, "iocatcher-client: %s failed: %s\n", name.c_str(), strerror((int)-ret));
        return false;
      }
    }
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    long long endUs = epochUs();
    std::sort(each.begin(), each.end());
    double median = n % 2 ? each[n / 2] : (each[n / 2 - 1] + each[n / 2]) / 2;
    report({name, n, sz, secs, median, startUs, endUs}, json);
    return true;
  };
  bool ok = true;
  if (mode == "ping" || mode == "all") {
    // The original's client API: ioc_client_ping_pong runs the rounds, errno tells how it went.
    auto pingPong = [&](size_t n) -> long {
      ioc_client_ping_pong(client, (int)n, eager, rdma);
      return errno ? -errno : 0;
    };
    size_t n = count;
    if (n == 0) {  // calibrate: ~1 s of work
      auto t0 = Clock::now();
      size_t probe = 0;
      while (ok && std::chrono::duration<double>(Clock::now() - t0).count() < 0.1) {
        ok = pingPong(1) == 0;
        probe++;
      }
      n = std::max<size_t>(probe * 10, 3);
    }
    long long startUs = epochUs();
    auto t0 = Clock::now();
    long ret = ok ? pingPong(n) : -errno;
    if (ret < 0) {
      fprintf(stderr, "iocatcher-client: ping failed: %s\n", strerror((int)-ret));
      ok = false;
    } else {
      report({"ping", n, eager + rdma, std::chrono::duration<double>(Clock::now() - t0).count(), 0, startUs, epochUs()}, json);
    }
  }
  for (std::string op : {"write", "read"}) {
    if (!ok || (mode != op && mode != "all")) continue;
    bool write = op == "write";
    ok &= measure(op, size, [&] {
      int64_t l;
      size_t off;
      target(l, off);
      return write ? (long)ioc_client_obj_write(client, high, l, buf.data(), size, off)
                   : (long)ioc_client_obj_read(client, high, l, buf.data(), size, off);
    });
  }
  if (mode == "checkpoint") {
    // What a checkpoint costs through the C API: total bytes in size-sized writes, then a flush.
    if (!objectSet) low = 2;
    for (size_t i = 0; i < size; i += 8) memcpy(&buf[i], &i, std::min<size_t>(8, size - i));
    auto t0 = Clock::now();
    for (size_t off = 0; off < total && ok; off += size) {
      size_t n = std::min(size, total - off);
      long ret = ioc_client_obj_write(client, high, low, buf.data(), n, off);
      if (ret < 0) {
        fprintf(stderr, "iocatcher-client: checkpoint write failed: %s\n", strerror((int)-ret));
        ok = false;
      }
    }
    // Absorbed: every write acknowledged by the server; flushed: in the backing store too.
    double absorbSecs = std::chrono::duration<double>(Clock::now() - t0).count();
    int fr = ok ? ioc_client_obj_flush(client, high, low, 0, 0) : 0;
    if (fr < 0) {
      fprintf(stderr, "iocatcher-client: flush failed: %s\n", strerror(-fr));
      ok = false;
    }
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    if (ok) {
      printf("checkpoint total=%zu size=%zu %.3f s %.3f GB/s (absorbed in %.3f s: %.3f GB/s)\n", total, size, secs,
             total / secs / 1e9, absorbSecs, total / absorbSecs / 1e9);
      if (json)
        printf("{\"mode\":\"checkpoint\",\"total\":%zu,\"size\":%zu,\"seconds\":%.4f,\"GBps\":%.4f,\"absorbSeconds\":%.4f,"
               "\"absorbGBps\":%.4f}\n",
               total, size, secs, total / secs / 1e9, absorbSecs, total / absorbSecs / 1e9);
    }
  }
  ioc_client_fini(client);
  return ok ? 0 : 1;
}
