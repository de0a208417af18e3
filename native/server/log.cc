#include "server/log.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

namespace ioc {
namespace server {

static int g_level = LOG_INFO;
void setLogLevel(int level) { g_level = level; }
int logLevel() { return g_level; }

static std::string g_debugCategories;  // ",cat1,cat2,"; set once at start
void setDebugCategories(const char *list) { g_debugCategories = std::string(",") + (list ? list : "") + ","; }
bool debugCategory(const char *category) {
  if (g_debugCategories.empty()) return false;
  return g_debugCategories.find(",all,") != std::string::npos ||
         g_debugCategories.find("," + std::string(category) + ",") != std::string::npos;
}

void log(LogLevel level, const char *category, const char *fmt, ...) {
  if (level > g_level && !(level == LOG_DEBUG && debugCategory(category))) return;
  static const char *names[] = {"error", "warn", "info", "debug"};
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  // ISO-8601 in UTC to the millisecond (2026-12-07T03:12:45.123Z), as the wrapper's lines.
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc;
  gmtime_r(&ts.tv_sec, &utc);
  char when[32];
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &utc);
  fprintf(stderr, "[iocatcher %s.%03ldZ %s %s] %s\n", when, ts.tv_nsec / 1000000, names[level], category, msg);
}

}  // namespace server
}  // namespace ioc
