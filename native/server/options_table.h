// Generated from src/server/options-table.ts by scripts/gen-options.js: edit the table, not this file.
// The daemon's options: their getopt table, checks, defaults and usage text (native/server/options.cc).
#pragma once

#include <getopt.h>

namespace ioc {
namespace server {
namespace optiontable {

enum class Kind { Flag, Int, Size, Enum, String, List, Store, Categories };

// The daemon's options, in the table's order.
enum Id : int { kPort, kStore, kCephConf, kCephClient, kNvdimm, kNoConsistencyCheck, kNoAuth, kActivePolling, kVerbose, kProvider, kSegmentSize, kMaxTransfer, kMaxMessage, kMaxObjectSize, kRmaTimeout, kSlowStoreWarning, kShutdownTimeout, kWriteBehind, kCacheSize, kPrefault, kHighWater, kLowWater, kMaxClients, kStatsInterval, kHelp, kVersion, kOptionCount };

struct Spec {
  const char *name;
  Kind kind;
  long long min, max;              // Int: the allowed range; Size: in bytes (max 0: none)
  unsigned long long multipleOf;   // Size: the value is a multiple of it (0: any)
  bool off;                        // Size: "off" is accepted too, as 0
  const char *const *values;       // Enum: the allowed values, nullptr-terminated
  int below;                       // Int: must be below this option's value (an Id; -1: none)
  long long intDefault;            // Int: the default
  const char *range;               // the allowed values in words, as the messages give them
};

inline constexpr const char *kWriteBehindValues[] = {"on", "off", nullptr};

inline constexpr Spec kSpecs[kOptionCount] = {
    {"port", Kind::Int, 1ll, 65534ll, 0ull, false, nullptr, -1, 8556ll, "1-65534"},
    {"store", Kind::Store, 0ll, 0ll, 0ull, false, nullptr, -1, 0ll, ""},
    {"ceph-conf", Kind::String, 0ll, 0ll, 0ull, false, nullptr, -1, 0ll, ""},
    {"ceph-client", Kind::String, 0ll, 0ll, 0ull, false, nullptr, -1, 0ll, ""},
    {"nvdimm", Kind::List, 0ll, 0ll, 0ull, false, nullptr, -1, 0ll, ""},
    {"no-consistency-check", Kind::Flag, 0ll, 0ll, 0ull, false, nullptr, -1, 0ll, ""},
    {"no-auth", Kind::Flag, 0ll, 0ll, 0ull, false, nullptr, -1, 0ll, ""},
    {"active-polling", Kind::Flag, 0ll, 0ll, 0ull, false, nullptr, -1, 0ll, ""},
    {"verbose", Kind::Categories, 0ll, 0ll, 0ull, false, nullptr, -1, 0ll, "fabric, protocol, auth, server, cache, tcp, rados, stats, config, metrics, all"},
    {"provider", Kind::String, 0ll, 0ll, 0ull, false, nullptr, -1, 0ll, ""},
    {"segment-size", Kind::Size, 1ll, 1073741824ll, 4096ull, false, nullptr, -1, 0ll, "a multiple of 4096, at most 1GB"},
    {"max-transfer", Kind::Size, 1ll, 0ll, 0ull, false, nullptr, -1, 0ll, ""},
    {"max-message", Kind::Size, 64ll, 36864ll, 0ull, false, nullptr, -1, 0ll, "at least 64B, at most 36KB"},
    {"max-object-size", Kind::Size, 1ll, 0ll, 0ull, false, nullptr, -1, 0ll, ""},
    {"rma-timeout", Kind::Int, 1ll, 86400ll, 0ull, false, nullptr, -1, 30ll, "seconds, 1-86400"},
    {"slow-store-warning", Kind::Int, 0ll, 86400ll, 0ull, false, nullptr, -1, 10ll, "seconds, 0-86400"},
    {"shutdown-timeout", Kind::Int, 1ll, 86400ll, 0ull, false, nullptr, -1, 60ll, "seconds, 1-86400"},
    {"write-behind", Kind::Enum, 0ll, 0ll, 0ull, false, kWriteBehindValues, -1, 0ll, "on or off"},
    {"cache-size", Kind::Size, 1ll, 0ll, 0ull, false, nullptr, -1, 0ll, ""},
    {"prefault", Kind::Size, 0ll, 0ll, 0ull, true, nullptr, -1, 0ll, ""},
    {"high-water", Kind::Int, 1ll, 100ll, 0ull, false, nullptr, -1, 90ll, "a percentage, 1-100"},
    {"low-water", Kind::Int, 1ll, 100ll, 0ull, false, nullptr, kHighWater, 70ll, "a percentage, 1-100"},
    {"max-clients", Kind::Int, 1ll, 1000000ll, 0ull, false, nullptr, -1, 0ll, "1-1000000"},
    {"stats-interval", Kind::Int, 0ll, 2147483647ll, 0ull, false, nullptr, -1, 60ll, "seconds, 0 or more"},
    {"help", Kind::Flag, 0ll, 0ll, 0ull, false, nullptr, -1, 0ll, ""},
    {"version", Kind::Flag, 0ll, 0ll, 0ull, false, nullptr, -1, 0ll, ""},
};

// getopt_long: a short flag's val is its letter, a long-only option's is 256 + its Id.
inline constexpr char kShortOptions[] = "n:capv::h";
inline constexpr option kLongOptions[] = {
    {"port", required_argument, nullptr, 256 + kPort},
    {"store", required_argument, nullptr, 256 + kStore},
    {"ceph-conf", required_argument, nullptr, 256 + kCephConf},
    {"ceph-client", required_argument, nullptr, 256 + kCephClient},
    {"nvdimm", required_argument, nullptr, 'n'},
    {"no-consistency-check", no_argument, nullptr, 'c'},
    {"no-auth", no_argument, nullptr, 'a'},
    {"active-polling", no_argument, nullptr, 'p'},
    {"verbose", optional_argument, nullptr, 'v'},
    {"provider", required_argument, nullptr, 256 + kProvider},
    {"segment-size", required_argument, nullptr, 256 + kSegmentSize},
    {"max-transfer", required_argument, nullptr, 256 + kMaxTransfer},
    {"max-message", required_argument, nullptr, 256 + kMaxMessage},
    {"max-object-size", required_argument, nullptr, 256 + kMaxObjectSize},
    {"rma-timeout", required_argument, nullptr, 256 + kRmaTimeout},
    {"slow-store-warning", required_argument, nullptr, 256 + kSlowStoreWarning},
    {"shutdown-timeout", required_argument, nullptr, 256 + kShutdownTimeout},
    {"write-behind", required_argument, nullptr, 256 + kWriteBehind},
    {"cache-size", required_argument, nullptr, 256 + kCacheSize},
    {"prefault", required_argument, nullptr, 256 + kPrefault},
    {"high-water", required_argument, nullptr, 256 + kHighWater},
    {"low-water", required_argument, nullptr, 256 + kLowWater},
    {"max-clients", required_argument, nullptr, 256 + kMaxClients},
    {"stats-interval", required_argument, nullptr, 256 + kStatsInterval},
    {"help", no_argument, nullptr, 'h'},
    {"version", no_argument, nullptr, 256 + kVersion},
    {nullptr, 0, nullptr, 0},
};

// Categories of -v=CATS.
inline constexpr const char *kDebugCategories[] = {"fabric", "protocol", "auth", "server", "cache", "tcp", "rados", "stats", "config", "metrics", "all", nullptr};

// Defaults (ServerOptions starts from them, options.h); the others are computed at start.
inline constexpr long long kDefaultPort = 8556;
inline constexpr const char *kDefaultStore = "./iocatcher-store";
inline constexpr const char *kDefaultCephClient = "client.admin";
inline constexpr unsigned long long kDefaultSegmentSize = 8388608ull;  // 8MB
inline constexpr unsigned long long kDefaultMaxTransfer = 4294967296ull;  // 4GB
inline constexpr unsigned long long kDefaultMaxMessage = 36864ull;  // 36KB
inline constexpr unsigned long long kDefaultMaxObjectSize = 1099511627776ull;  // 1TB
inline constexpr long long kDefaultRmaTimeout = 30;
inline constexpr long long kDefaultSlowStoreWarning = 10;
inline constexpr long long kDefaultShutdownTimeout = 60;
inline constexpr const char *kDefaultWriteBehind = "on";
inline constexpr long long kDefaultHighWater = 90;
inline constexpr long long kDefaultLowWater = 70;
inline constexpr long long kDefaultStatsInterval = 60;

// iocatcher-serverd --help.
inline constexpr char kUsage[] =
    "usage: iocatcher-serverd [options] LISTEN_IP   (normally started by iocatcher-server)\n"
    "  --port PORT                 libfabric port; the TCP side channel uses PORT+1 (1-65534; default\n"
    "                              8556)\n"
    "  --store DIR                 backing store: one sparse file per object under DIR (default\n"
    "                              ./iocatcher-store)\n"
    "  --store rados://POOL        backing store: one RADOS object per object in the Ceph pool POOL\n"
    "                              (named ioc.<HIGH>.<LOW>, 16 hex digits each)\n"
    "  --ceph-conf FILE            Ceph configuration of a rados:// store (default $CEPH_CONF, then\n"
    "                              /etc/ceph/ceph.conf)\n"
    "  --ceph-client NAME          Ceph client name of a rados:// store (default client.admin)\n"
    "  -n, --nvdimm DIR[,DIR...]   keep the segment cache in persistent memory: one pool file\n"
    "                              (DIR/iocatcher-pool, mapped with libpmem) per directory, segments\n"
    "                              spread across them; acknowledged writes survive a crash and are\n"
    "                              recovered at the next start on the same directories and --store\n"
    "  -c, --no-consistency-check  accept overlapping write range registrations\n"
    "  -a, --no-auth               do not check client keys (the TCP side channel is still kept: its\n"
    "                              close releases a dead client's range registrations)\n"
    "  -p, --active-polling        busy-poll the completion queue (lower latency, uses a core)\n"
    "  -v, --verbose               print read/write throughput and cache figures every second\n"
    "  -v=CATS, --verbose=CATS     debug logs of the comma-separated categories CATS (fabric, protocol,\n"
    "                              auth, server, cache, tcp, rados, stats, config, metrics; \"all\":\n"
    "                              every one); the per-second line too if CATS has \"stats\".\n"
    "                              IOC_DEBUG=1: debug logs of every category\n"
    "  --provider NAME             libfabric provider, e.g. shm or net (default $FI_PROVIDER or\n"
    "                              tcp;ofi_rxm)\n"
    "  --segment-size SIZE         cache segment size (a multiple of 4096, at most 1GB; default 8MB)\n"
    "  --max-transfer SIZE         largest single read or write accepted (default 4GB)\n"
    "  --max-message SIZE          largest request message accepted; larger ones are refused with\n"
    "                              EMSGSIZE (at least 64B, at most 36KB; default 36KB)\n"
    "  --max-object-size SIZE      no object byte at or beyond this offset: a request past it fails\n"
    "                              with EFBIG (default 1TB)\n"
    "  --rma-timeout SECONDS       an RMA transfer with a client that has not completed by then fails\n"
    "                              its request with ETIMEDOUT (seconds, 1-86400; default 30)\n"
    "  --slow-store-warning SECONDS\n"
    "                              log a warning, naming the object, when a store operation (load,\n"
    "                              write-back, lookup, delete...) has run this long, and again when it\n"
    "                              ends; 0: never (seconds, 0-86400; default 10)\n"
    "  --shutdown-timeout SECONDS  at SIGINT/SIGTERM, wait at most this long for the store to take the\n"
    "                              dirty data; then exit 1, logging every object whose dirty bytes stay\n"
    "                              in the --nvdimm pool or are lost (seconds, 1-86400; default 60)\n"
    "  --write-behind on|off       start writing dirty segments to the store as soon as they land, in\n"
    "                              the background (a flush then waits only for what is left); off keeps\n"
    "                              them in the cache until a flush or a spill (default on)\n"
    "  --cache-size SIZE           bound of the segment cache; beyond it, dirty segments spill to the\n"
    "                              store and the least recently used are dropped (default a quarter of\n"
    "                              the RAM, at most 64GB)\n"
    "  --prefault SIZE|off         cache memory faulted in at start by a background thread at low\n"
    "                              priority and kept that far ahead of the memory in use (up to\n"
    "                              --cache-size); it is kept when segments are dropped, so that a burst\n"
    "                              of writes does not pay page faults; what it faulted in stays\n"
    "                              resident (default --cache-size, at most 1GB)\n"
    "  --high-water PCT            start spilling/dropping above PCT% of --cache-size (a percentage,\n"
    "                              1-100; default 90)\n"
    "  --low-water PCT             once above --high-water, spill/drop until the cache is down to PCT%\n"
    "                              of --cache-size (a percentage, 1-100; default 70)\n"
    "  --max-clients N             clients served at once (one TCP side channel and up to 8 libfabric\n"
    "                              connections each); a client beyond it is refused at once (EUSERS),\n"
    "                              logged once per episode (1-1000000; default from the open-file\n"
    "                              limit, raised to its hard limit: (limit - 256) / 9)\n"
    "  --stats-interval SECONDS    log the cache figures (hits, misses, spilled and dirty bytes) this\n"
    "                              often when they change; 0: never (seconds, 0 or more; default 60)\n"
    "  -h, --help                  show this help\n"
    "  --version                   print the version\n"
    "\n"
    "SIZE: a number with an optional unit B, K/KB/KiB, M/MB/MiB, G/GB/GiB or T/TB/TiB (1024-based), e.g. 64MB or 1.5GiB.\n"
    "IOC_CONTROL_FD=N: answer stats/ls commands on fd N. SIGUSR1 logs the cache figures.\n";

}  // namespace optiontable
}  // namespace server
}  // namespace ioc
