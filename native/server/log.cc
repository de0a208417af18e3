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
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  fprintf(stderr, "[iocatcher %ld.%03ld %s %s] %s\n", (long)ts.tv_sec, ts.tv_nsec / 1000000, names[level], category, msg);
}

}  // namespace server
}  // namespace ioc
