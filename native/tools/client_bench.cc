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
};

static void report(const Result &r, bool json) {
  double ops = r.count / r.seconds;
  double gbs = r.size ? (double)r.size * r.count / r.seconds / 1e9 : 0;
  printf("%-6s size=%-10zu count=%-7zu %10.0f ops/s  %8.2f us/op  %7.3f GB/s\n", r.name.c_str(), r.size, r.count, ops,
         1e6 / ops, gbs);
  if (json)
    printf("{\"mode\":\"%s\",\"size\":%zu,\"count\":%zu,\"opsPerSec\":%.1f,\"usPerOp\":%.3f,\"GBps\":%.4f}\n",
           r.name.c_str(), r.size, r.count, ops, 1e6 / ops, gbs);
  fflush(stdout);
}

int main(int argc, char **argv) {
  static option longOpts[] = {{"port", required_argument, nullptr, 'P'},  {"mode", required_argument, nullptr, 'm'},
                              {"size", required_argument, nullptr, 's'},  {"count", required_argument, nullptr, 'n'},
                              {"eager", required_argument, nullptr, 'e'}, {"active", no_argument, nullptr, 'a'},
                              {"rdma", required_argument, nullptr, 'r'},
                              {"json", no_argument, nullptr, 'j'}, {"total", required_argument, nullptr, 't'},        {"help", no_argument, nullptr, 'h'},
                              {"version", no_argument, nullptr, 'V'},
                              {nullptr, 0, nullptr, 0}};
  std::string port = "8556", mode = "all";
  size_t size = 8 << 20, count = 0, eager = 0, rdma = 0, total = 1ull << 30;
  bool active = false, json = false;
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
  auto measure = [&](const std::string &name, size_t sz, const std::function<long()> &op) -> bool {
    size_t n = count;
    if (n == 0) {  // calibrate: ~1 s of work
      auto t0 = Clock::now();
      size_t probe = 0;
      while (std::chrono::duration<double>(Clock::now() - t0).count() < 0.1) {
        if (op() < 0) return false;
        probe++;
      }
      n = std::max<size_t>(probe * 10, 3);
    }
    auto t0 = Clock::now();
    for (size_t i = 0; i < n; i++) {
      long ret = op();
      if (ret < 0) {
        fprintf(stderr, "iocatcher-client: %s failed: %s\n", name.c_str(), strerror((int)-ret));
        return false;
      }
    }
    report({name, n, sz, std::chrono::duration<double>(Clock::now() - t0).count()}, json);
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
    auto t0 = Clock::now();
    long ret = ok ? pingPong(n) : -errno;
    if (ret < 0) {
      fprintf(stderr, "iocatcher-client: ping failed: %s\n", strerror((int)-ret));
      ok = false;
    } else {
      report({"ping", n, eager + rdma, std::chrono::duration<double>(Clock::now() - t0).count()}, json);
    }
  }
  if (ok && (mode == "write" || mode == "all"))
    ok &= measure("write", size, [&] { return (long)ioc_client_obj_write(client, 0x10c, 1, buf.data(), size, 0); });
  if (ok && (mode == "read" || mode == "all"))
    ok &= measure("read", size, [&] { return (long)ioc_client_obj_read(client, 0x10c, 1, buf.data(), size, 0); });
  if (mode == "checkpoint") {
    // What a checkpoint costs through the C API: total bytes in size-sized writes, then a flush.
    for (size_t i = 0; i < size; i += 8) memcpy(&buf[i], &i, std::min<size_t>(8, size - i));
    auto t0 = Clock::now();
    for (size_t off = 0; off < total && ok; off += size) {
      size_t n = std::min(size, total - off);
      long ret = ioc_client_obj_write(client, 0x10c, 2, buf.data(), n, off);
      if (ret < 0) {
        fprintf(stderr, "iocatcher-client: checkpoint write failed: %s\n", strerror((int)-ret));
        ok = false;
      }
    }
    // Absorbed: every write acknowledged by the server; flushed: in the backing store too.
    double absorbSecs = std::chrono::duration<double>(Clock::now() - t0).count();
    int fr = ok ? ioc_client_obj_flush(client, 0x10c, 2, 0, 0) : 0;
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
