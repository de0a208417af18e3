// Minimal leveled logging to stderr (the TypeScript CLI owns formatting of its own output).
#pragma once

namespace ioc {
namespace server {

enum LogLevel { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };
void setLogLevel(int level);
int logLevel();
// -v=CATS: comma-separated categories whose debug messages are shown ("all": every category).
void setDebugCategories(const char *list);
bool debugCategory(const char *category);
void log(LogLevel level, const char *category, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

}  // namespace server
}  // namespace ioc
