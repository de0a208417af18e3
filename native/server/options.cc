// The daemon's command line. Its getopt table, checks, defaults and usage text come from
// native/server/options_table.h, generated from the option table (src/server/options-table.ts):
// the daemon takes what iocatcher-server passes it, and words every error as the CLI does.
#include <getopt.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/size.h"
#include "server/log.h"
#include "server/options.h"
#include "server/options_table.h"

// An option of the table that apply() does not handle is a build error, not an ignored option.
#pragma GCC diagnostic error "-Wswitch"

namespace ioc {
namespace server {
namespace {

using namespace optiontable;

__attribute__((format(printf, 1, 2))) bool fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("iocatcher-serverd: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return false;
}

// An option's value once checked.
struct Value {
  const char *text = "";
  long long number = 0;  // Int
  uint64_t bytes = 0;    // Size ("off": 0)
};

// Digits only (no sign, no spaces), as the CLI takes them.
bool parseDigits(const char *s, long long &out) {
  size_t n = strlen(s);
  if (n == 0 || n > 18 || strspn(s, "0123456789") != n) return false;
  out = strtoll(s, nullptr, 10);
  return true;
}

// -v=CATS: every category must be one the logs use (a typo would silently log nothing).
bool checkCategories(const Spec &s, const char *cats) {
  std::string list(cats);
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string::npos) comma = list.size();
    std::string cat = list.substr(pos, comma - pos);
    bool found = cat.empty();
    for (const char *const *k = kDebugCategories; *k && !found; k++) found = cat == *k;
    if (!found) return fail("unknown --%s category '%s' (%s)", s.name, cat.c_str(), s.range);
    pos = comma + 1;
  }
  return true;
}

bool check(const Spec &s, const char *arg, Value &v) {
  v.text = arg ? arg : "";
  if (s.kind != Kind::Flag && s.kind != Kind::Categories && !*arg) return fail("option --%s needs a value", s.name);
  switch (s.kind) {
    case Kind::Flag:
      return true;
    case Kind::Categories:
      // -v=CATS reaches here as "=CATS".
      if (arg && *arg == '=') v.text = arg + 1;
      return checkCategories(s, v.text);
    case Kind::Int:
      if (!parseDigits(arg, v.number) || v.number < s.min || v.number > s.max)
        return fail("invalid --%s '%s' (%s)", s.name, arg, s.range);
      return true;
    case Kind::Size:
      if (s.off && strcmp(arg, "off") == 0) return true;
      if (!ioc::parseSize(arg, v.bytes))
        return fail("invalid size for --%s: '%s' (expected %s" IOC_SIZE_SYNTAX ")", s.name, arg, s.off ? "off or " : "");
      if (v.bytes == 0 && s.min > 0) return fail("invalid size for --%s: '%s' (must not be 0)", s.name, arg);
      if (v.bytes < (uint64_t)s.min || (s.max && v.bytes > (uint64_t)s.max) || (s.multipleOf && v.bytes % s.multipleOf))
        return fail("invalid size for --%s: '%s' (%s)", s.name, arg, s.range);
      return true;
    case Kind::Enum:
      for (const char *const *k = s.values; *k; k++)
        if (strcmp(arg, *k) == 0) return true;
      return fail("invalid --%s '%s' (%s)", s.name, arg, s.range);
    case Kind::Store:
      if (strncmp(arg, "rados://", 8) == 0 && (!arg[8] || strpbrk(arg + 8, "/ \t\n\v\f\r")))
        return fail("invalid --%s '%s' (expected rados://POOL)", s.name, arg);
      return true;
    case Kind::String:
    case Kind::List:
      return true;
  }
  return false;
}

// Sets the ServerOptions field of option `id`.
void apply(Id id, const Value &v, ServerOptions &o) {
  switch (id) {
    case kPort: o.port = (uint16_t)v.number; break;
    case kStore: o.storeDir = v.text; break;
    case kCephConf: o.cephConf = v.text; break;
    case kCephClient: o.cephClient = v.text; break;
    case kNvdimm: {
      std::string list(v.text);
      size_t pos = 0;
      while (pos <= list.size()) {
        size_t comma = list.find(',', pos);
        if (comma == std::string::npos) comma = list.size();
        if (comma > pos) o.nvdimm.push_back(list.substr(pos, comma - pos));
        pos = comma + 1;
      }
      break;
    }
    case kNoConsistencyCheck: o.consistencyCheck = false; break;
    case kNoAuth: o.auth = false; break;
    case kActivePolling: o.activePolling = true; break;
    case kVerbose:
      // -v: throughput every second. -v=CATS / --verbose=CATS: debug messages of the
      // comma-separated categories CATS, and the throughput line only if CATS has stats or all.
      if (*v.text) {
        setDebugCategories(v.text);
        o.verbose = debugCategory("stats") ? 1 : 0;
      } else {
        o.verbose = 1;
      }
      break;
    case kProvider: o.provider = v.text; break;
    case kSegmentSize: o.segmentSize = v.bytes; break;
    case kMaxTransfer: o.maxTransfer = v.bytes; break;
    case kMaxMessage: o.maxMessage = v.bytes; break;
    case kMaxObjectSize: o.maxObjectSize = v.bytes; break;
    case kRmaTimeout: o.rmaTimeoutSec = (int)v.number; break;
    case kShutdownTimeout: o.shutdownTimeoutSec = (int)v.number; break;
    case kWriteBehind: o.writeBehind = strcmp(v.text, "on") == 0; break;
    case kCacheSize: o.cacheSize = v.bytes; break;
    case kPrefault: o.prefault = v.bytes; break;
    case kHighWater: o.highWater = (int)v.number; break;
    case kLowWater: o.lowWater = (int)v.number; break;
    case kMaxClients: o.maxClients = (size_t)v.number; break;
    case kStatsInterval: o.statsInterval = (int)v.number; break;
    case kSlowStoreWarning: o.slowStoreWarningSec = (int)v.number; break;
    case kHelp:
      fputs(kUsage, stdout);
      exit(0);
    case kVersion:
      printf("iocatcher-serverd %s\n", IOC_VERSION);
      exit(0);
    case kOptionCount: break;
  }
}

}  // namespace

bool parseOptions(int argc, char **argv, ServerOptions &o) {
  long long ints[kOptionCount];  // for the `below` relations, defaults included
  for (int i = 0; i < kOptionCount; i++) ints[i] = kSpecs[i].intDefault;
  int c;
  while ((c = getopt_long(argc, argv, kShortOptions, kLongOptions, nullptr)) != -1) {
    int id = c >= 256 ? c - 256 : -1;
    for (int i = 0; id < 0 && i < kOptionCount; i++)
      if (kLongOptions[i].val == c) id = i;
    if (id < 0 || id >= kOptionCount) return false;  // getopt said what is wrong
    Value v;
    if (!check(kSpecs[id], optarg, v)) return false;
    ints[id] = v.number;
    apply((Id)id, v, o);
  }
  for (int i = 0; i < kOptionCount; i++) {
    const Spec &s = kSpecs[i];
    if (s.below >= 0 && ints[i] >= ints[s.below]) return fail("--%s must be below --%s", s.name, kSpecs[s.below].name);
  }
  if (o.cacheSize == 0) o.cacheSize = defaultCacheSize();
  if (o.prefault == UINT64_MAX) o.prefault = std::min<uint64_t>(o.cacheSize, 1ull << 30);
  o.prefault = std::min(o.prefault, o.cacheSize);
  if (o.maxClients == 0) o.maxClients = defaultMaxClients();
  if (o.cacheSize < 2 * o.segmentSize) return fail("--cache-size must hold at least two segments (%zu bytes)", 2 * o.segmentSize);
#ifndef IOC_HAVE_RADOS
  if (o.storeDir.compare(0, 8, "rados://") == 0) {
    return fail("--store %s: this build has no RADOS support (librados was not found when it was built: install "
                "librados-dev, e.g. bash scripts/setup.sh, and rebuild)", o.storeDir.c_str());
  }
#endif
  if (optind != argc - 1) {
    fprintf(stderr, "usage: iocatcher-serverd [options] LISTEN_IP\n");
    return false;
  }
  o.listenIp = argv[optind];
  return true;
}

}  // namespace server
}  // namespace ioc
